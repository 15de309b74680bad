"""Executors decide where a sweep's jobs run: this process, local worker processes, a Ray cluster, or Slurm.

Every executor has the same small interface (`gbench.execute.Executor`): `slots` (how many jobs it takes at once),
`submit(jobs, opts)`, `wait(timeout) -> [(job, record)]` for the jobs that ended, and `close()`. The sweep's driver
(`gbench.execute.run_sweep`) claims each job, hands it to the executor, and writes each record as it arrives, so
records never depend on the executor. Workers get nothing but the job and its options.
"""

from __future__ import annotations

import os
from pathlib import Path

from gbench.errors import GbenchError
from gbench.repro import usable_cores  # noqa: F401  (re-exported: the sweep reads it here)

EXECUTORS = ("local", "ray", "slurm")


def make_executor(name: str = "local", *, workers: int = 1, device: str = "cpu", results: Path | None = None,
                  address: str | None = None, partition: str | None = None, time_limit: str | None = None,
                  cpus_per_job: int = 1, gpus_per_job: int | None = None, mem_gb: float | None = None,
                  requested_device: str | None = None):
    """The executor for the `gbench run` options; bad combinations are refused in one sentence.

    `device` is the resolved device; `requested_device` what the user asked for: `auto` or `cuda` spreads local
    workers over every visible GPU, `cuda:N` pins them all to GPU N."""
    if name not in EXECUTORS:
        raise GbenchError(f"--executor '{name}' is not one of {', '.join(EXECUTORS)}.")
    if workers < 1:
        raise GbenchError(f"--workers {workers}: give at least 1.")
    gpus = gpus_per_job if gpus_per_job is not None else (1 if device.startswith("cuda") else 0)
    if name == "local":
        if address or partition or time_limit:
            raise GbenchError("--address, --partition and --time are for --executor ray / slurm, not local.")
        if workers == 1:
            from gbench.executors.local import InProcessExecutor

            return InProcessExecutor()
        from gbench.executors.local import WorkerPoolExecutor

        spread = "cuda" if device.startswith("cuda") and requested_device in (None, "auto", "cuda") else device
        return WorkerPoolExecutor(workers, spread, log_dir=Path(results) / "logs" if results else None)
    if name == "ray":
        from gbench.executors.ray_cluster import RayExecutor

        return RayExecutor(address=address, cpus_per_job=cpus_per_job, gpus_per_job=gpus)
    from gbench.executors.slurm import SlurmExecutor

    return SlurmExecutor(Path(results or ".") / "slurm", partition=partition, time_limit=time_limit,
                         gpus_per_job=gpus, cpus_per_job=cpus_per_job, mem_gb=mem_gb,
                         max_parallel=workers if workers > 1 else 64, store_root=Path(results) if results else None)


def machine_memory_gib() -> float | None:
    """This machine's physical memory in GiB, where the platform says (Linux, macOS), else None."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (AttributeError, ValueError, OSError):
        return None


def default_threads(workers: int) -> int:
    """torch threads per job when several jobs share this machine: its cores divided among the workers."""
    return max(1, usable_cores() // workers)


def sweep_device(executor: str, device: str, gpus_per_job: int | None) -> str:
    """The device jobs run on. Local: checked here (`auto` -> cuda:0 or cpu). Ray and Slurm jobs run on other
    machines, whose GPUs this one need not have: `cuda` is taken as asked, and `auto` means CUDA when the jobs ask
    for GPUs (--gpus-per-job, else this machine's view)."""
    from gbench.repro import resolve_device

    if executor == "local":
        return resolve_device(device)
    if device == "cpu":
        return "cpu"
    if device == "cuda" or device.startswith("cuda:"):
        return "cuda:0"
    if device == "auto":
        if gpus_per_job is not None:
            return "cuda:0" if gpus_per_job > 0 else "cpu"
        import torch

        return "cuda:0" if torch.cuda.is_available() else "cpu"
    return resolve_device(device)  # its error message for anything else
