"""Ray executor: one Ray task per job, with the job's CPU and GPU resources (`--executor ray [--address ...]`).

The task runs `gbench.executors.worker.execute` in a Ray worker process; its record comes back to the driver, which
writes it. Ray gives a task that asked for a GPU its own CUDA_VISIBLE_DEVICES, so inside the task the device is
cuda:0. Tasks are not retried by Ray (`max_retries=0`): a job whose worker dies is recorded failed (oom when Ray's
memory monitor killed it) and retried by the next `gbench run`, like any failed job. Candidate model files must be
reachable at the same path from every node (a shared filesystem), as for Slurm.
"""

from __future__ import annotations

import os
from dataclasses import replace

from gbench.errors import GbenchError
from gbench.job import Job, RunOptions
from gbench.jobs import failure_record
from gbench.results import RunRecord


def _ray_job(job, opts, cwd):
    from gbench.executors.worker import execute

    return execute(job, opts, cwd)


TOKEN_HINT = ("a cluster started by hand with `ray start --head` may use token authentication, which a client uses "
              "only with RAY_AUTH_MODE=token set in its environment (and the cluster's token in ~/.ray/auth_token, "
              "RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH)")


def _connect(ray, address: str | None) -> None:
    """Connect to the cluster at `address`, or start a Ray instance on this machine only (loopback) for this sweep.

    Without an address Ray would first look for the last cluster `ray start` made (the `ray_current_cluster` file
    in Ray's temp folder), which outlives a head that died without `ray stop`; `address="local"` always starts a
    fresh one instead."""
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(address="local", include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    except ConnectionError as e:
        if not address:
            raise GbenchError(f"--executor ray: cannot start Ray on this machine ({e}); check `ray status` and "
                              "Ray's logs, or use --executor local.") from None
        token = os.environ.get("RAY_AUTH_MODE", "").lower() == "token"
        hint = "" if token else f"; {TOKEN_HINT}"
        raise GbenchError(f"--address {address}: cannot connect to a Ray cluster there ({e}){hint}; otherwise start "
                          "one with `ray start --head`, or leave --address out to start Ray here.") from None
    except ValueError as e:  # a malformed address
        raise GbenchError(f"--address {address}: {e}; give host:port of a Ray head, e.g. 10.0.0.5:6379.") from None
    except ray.exceptions.AuthenticationError as e:
        raise GbenchError(f"--address {address}: Ray's token authentication failed ({e}); give this client the "
                          "cluster's token in ~/.ray/auth_token, RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH.") from None


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_job: float = 1, gpus_per_job: float = 0) -> None:
        try:
            import ray
        except ImportError:
            raise GbenchError("--executor ray needs Ray: pip install 'gbench[ray]'.") from None
        self._ray = ray
        self._owns = False
        if not ray.is_initialized():
            _connect(ray, address)
            self._owns = True
        self._remote = ray.remote(_ray_job).options(num_cpus=cpus_per_job, num_gpus=gpus_per_job, max_retries=0)
        resources = ray.cluster_resources()
        fits = [resources.get("CPU", 1) / cpus_per_job if cpus_per_job else float("inf")]
        if gpus_per_job:
            fits.append(resources.get("GPU", 0) / gpus_per_job)
            if resources.get("GPU", 0) < gpus_per_job:
                raise GbenchError(f"--gpus-per-job {gpus_per_job}: the Ray cluster has {resources.get('GPU', 0)} "
                                  "GPU(s); use --device cpu or a cluster with GPUs.")
        self.slots = max(1, int(min(fits)))
        self._pending: dict = {}

    def submit(self, jobs: list[Job], opts: RunOptions) -> None:
        worker_opts = replace(opts, executor=self.name,
                              device="cuda:0" if opts.device.startswith("cuda") else opts.device)
        for job in jobs:
            ref = self._remote.remote(job, worker_opts, os.getcwd())
            self._pending[ref] = (job, worker_opts)

    def wait(self, timeout: float) -> list[tuple[Job, RunRecord]]:
        if not self._pending:
            return []
        ray = self._ray
        ready, _ = ray.wait(list(self._pending), num_returns=len(self._pending), timeout=timeout)
        done = []
        for ref in ready:
            job, opts = self._pending.pop(ref)
            try:
                record = ray.get(ref)
            except ray.exceptions.OutOfMemoryError as e:
                record = failure_record(job, opts, "oom", f"Ray's memory monitor killed the task: {e}")
            except ray.exceptions.RayError as e:
                record = failure_record(job, opts, "failed", f"the Ray task ended without a result: "
                                        f"{type(e).__name__}: {e}")
            done.append((job, record))
        return done

    def close(self) -> None:
        for ref in self._pending:
            self._ray.cancel(ref, force=True)
        self._pending.clear()
        if self._owns:
            self._ray.shutdown()
