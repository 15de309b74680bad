"""Local executors: jobs in this process (`--workers 1`), or in a pool of worker processes (`--workers N`), one
slot per GPU through CUDA_VISIBLE_DEVICES when the sweep runs on CUDA.

A pool worker is a long-lived `python -m gbench.executors.worker` process (so a sweep of small jobs does not pay
torch's import per job); per-job peak memory stays correct because the job wrapper resets the process's RSS
high-water mark (CUDA: the allocator's peak) at each job's start. A worker that dies (killed, segfault, the kernel's
OOM killer) fails only the job it was running: the driver records it and starts a fresh worker for the slot.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from gbench.executors.worker import receive, send
from gbench.job import Job, RunOptions
from gbench.jobs import failure_record, run_job
from gbench.results import RunRecord


class InProcessExecutor:
    """Runs jobs one after another in this process: the default (`--workers 1`)."""

    name = "in-process"
    slots = 1

    def __init__(self) -> None:
        self._queue: list[tuple[Job, RunOptions]] = []

    def submit(self, jobs: list[Job], opts: RunOptions) -> None:
        from gbench.repro import prepare_process

        prepare_process(opts.deterministic)  # type: ignore[arg-type]
        self._queue.extend((j, replace(opts, executor=self.name)) for j in jobs)

    def wait(self, timeout: float) -> list[tuple[Job, RunRecord]]:
        if not self._queue:
            return []
        job, opts = self._queue.pop(0)
        return [(job, run_job(job, opts))]

    def close(self) -> None:
        self._queue.clear()


def _signal_name(returncode: int | None) -> str:
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


def _tail(path: Path | None, lines: int = 12) -> str:
    if path is None or not path.exists():
        return ""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(f.tell() - 8192, 0))
        text = f.read().decode(errors="replace")
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass
class _Slot:
    index: int
    gpu: str | None  # physical id for CUDA_VISIBLE_DEVICES; None on CPU
    proc: subprocess.Popen | None = None
    job: Job | None = None
    opts: RunOptions | None = None
    started: str | None = None
    log: Path | None = None


def gpu_slots(device: str, workers: int) -> list[str | None]:
    """Which GPU each of `workers` slots gets: every visible GPU in turn for `cuda`, the named one for
    `cuda:N`; None for every slot on CPU."""
    if not device.startswith("cuda"):
        return [None] * workers
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        ids = [v.strip() for v in visible.split(",") if v.strip()]
    else:
        import torch

        ids = [str(i) for i in range(torch.cuda.device_count())]
    if ":" in device:
        index = int(device.split(":")[1])
        ids = [ids[index]] if index < len(ids) else ids
    return [ids[i % len(ids)] for i in range(workers)]


class WorkerPoolExecutor:
    """`workers` worker processes on this machine; each runs one job at a time."""

    name = "local"

    def __init__(self, workers: int, device: str, log_dir: Path | None = None) -> None:
        self.slots = workers
        self._slots = [_Slot(i, gpu) for i, gpu in enumerate(gpu_slots(device, workers))]
        self._log_dir = Path(log_dir) if log_dir else None
        self._selector = selectors.DefaultSelector()

    def _start(self, slot: _Slot, opts: RunOptions) -> None:
        env = dict(os.environ)
        if slot.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = slot.gpu
        if opts.threads:
            env.setdefault("OMP_NUM_THREADS", str(opts.threads))
        if opts.deterministic != "off":
            env.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before the worker's first CUDA call
        stderr = subprocess.DEVNULL
        if self._log_dir is not None:
            self._log_dir.mkdir(parents=True, exist_ok=True)
            slot.log = self._log_dir / f"worker-{slot.index}.log"
            stderr = open(slot.log, "ab")  # noqa: SIM115 - the child keeps it
        slot.proc = subprocess.Popen([sys.executable, "-m", "gbench.executors.worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=stderr, env=env, bufsize=0)
        if stderr is not subprocess.DEVNULL:
            stderr.close()
        self._selector.register(slot.proc.stdout, selectors.EVENT_READ, slot)

    def submit(self, jobs: list[Job], opts: RunOptions) -> None:
        import datetime as dt

        for job in jobs:
            slot = next(s for s in self._slots if s.job is None)
            if slot.proc is not None and slot.proc.poll() is not None:
                self._discard(slot)  # died while idle
            if slot.proc is None:
                self._start(slot, opts)
            # Inside a worker its GPU is always cuda:0 (CUDA_VISIBLE_DEVICES shows it only that one).
            slot.opts = replace(opts, executor=f"local:{self.slots}",
                                device="cuda:0" if opts.device.startswith("cuda") else opts.device)
            slot.job, slot.started = job, dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            try:
                send(slot.proc.stdin, (job, slot.opts, os.getcwd()))
            except (BrokenPipeError, OSError):
                pass  # it died on start-up; wait() finds it and records the job

    def _discard(self, slot: _Slot) -> int:
        """Forget a slot's (ended or ending) worker process; its exit status."""
        proc, slot.proc = slot.proc, None
        try:
            self._selector.unregister(proc.stdout)
        except (KeyError, ValueError):
            pass
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        return code

    def _died(self, slot: _Slot) -> tuple[Job, RunRecord]:
        pid = slot.proc.pid
        code = self._discard(slot)
        how = _signal_name(code)
        hint = " (SIGKILL without a signal from gbench is often the kernel's out-of-memory killer)" \
            if code == -signal.SIGKILL else ""
        log = _tail(slot.log)
        error = f"worker process {pid} died while running the job: {how}{hint}." + (
            f"\nlast lines of its log {slot.log}:\n{log}" if log else "")
        job = slot.job
        record = failure_record(job, slot.opts, "failed", error, started=slot.started,
                                worker={"executor": slot.opts.executor, "pid": pid})
        slot.job = None
        return job, record

    def wait(self, timeout: float) -> list[tuple[Job, RunRecord]]:
        done: list[tuple[Job, RunRecord]] = []
        if not any(s.job is not None for s in self._slots):
            return done
        for key, _ in self._selector.select(timeout):
            slot: _Slot = key.data
            if slot.proc is None or key.fileobj is not slot.proc.stdout:
                self._selector.unregister(key.fileobj)
                continue
            message = receive(slot.proc.stdout)
            if message is None:
                if slot.job is not None:
                    done.append(self._died(slot))
                else:
                    self._discard(slot)
                continue
            if isinstance(message, RunRecord) and slot.job is not None:
                done.append((slot.job, message))
                slot.job = None
        return done

    def close(self) -> None:
        for slot in self._slots:
            if slot.proc is None:
                continue
            try:
                slot.proc.stdin.close()  # a worker exits when its input ends
            except OSError:
                pass
        for slot in self._slots:
            if slot.proc is None:
                continue
            if slot.job is not None:  # interrupted: its job is not waited for
                slot.proc.kill()
            self._discard(slot)
        self._selector.close()
