"""What runs on the worker side of every executor, and the local pool's worker process.

`execute(job, opts)` is the whole of a worker's work: it needs nothing but the job and its options, loads the
task's data itself (the node-task cache makes that one file read), and returns the record; the sweep's driver
writes it. `python -m gbench.executors.worker` is a local worker process: it reads (job, options) messages on
stdin and answers each with a record on its original stdout, while anything the model prints goes to stderr (the
worker's log). It exits when its input closes or its parent dies.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from typing import IO, Any

_HEADER = struct.Struct("!Q")


def send(stream: IO[bytes], obj: Any) -> None:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    blob = memoryview(_HEADER.pack(len(payload)) + payload)
    while blob:
        written = stream.write(blob)
        blob = blob[written if written is not None else len(blob):]
    stream.flush()


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    parts, left = [], size
    while left:
        chunk = stream.read(left)  # on an unbuffered pipe: at most `left` bytes, never more
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def receive(stream: IO[bytes]) -> Any:
    """The next message, or None when the stream ended (also part-way through a message)."""
    head = _read_exact(stream, _HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(head)
    blob = _read_exact(stream, size)
    if len(blob) < size:
        return None
    return pickle.loads(blob)


@contextmanager
def _working_directory(path: str | None):
    """Relative candidate paths (`my_model.py:build`) mean the sweep's directory, wherever the worker starts."""
    if not path or not os.path.isdir(path) or os.getcwd() == path:
        yield
        return
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def execute(job, opts, cwd: str | None = None, store_root: str | None = None):
    """Run one job here and return its record. An error in gbench itself becomes a failed record with its
    traceback (loud, but it ends only this job). With `store_root` (a results directory this machine shares with
    the driver) the worker also writes the record there itself, so that it survives the driver's death; the driver
    writing the same record again changes nothing."""
    record = _execute(job, opts, cwd)
    if store_root:
        from gbench.results import ResultStore

        try:
            record = record.sealed()
            ResultStore(store_root).write(record)
        except OSError as e:  # not shared after all, or a finished record is there: the driver decides
            print(f"gbench worker: could not write the record into {store_root}: {e}", file=sys.stderr)
    return record


def _execute(job, opts, cwd: str | None):
    import warnings

    from gbench.jobs import failure_record, run_job, worker_info
    from gbench.repro import prepare_process

    # PyG's import-time use of torch.jit.script warns on torch >= 2.10: noise in every worker's log.
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
    prepare_process(opts.deterministic)  # type: ignore[arg-type]
    with _working_directory(cwd):
        try:
            return run_job(job, opts)
        except Exception as e:  # noqa: BLE001
            return failure_record(job, opts, "failed", f"internal error in gbench while running the job: "
                                  f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=30)}",
                                  worker=worker_info(opts))


def _exit_with_parent() -> None:
    """A worker whose sweep was killed (SIGKILL leaves no chance to tell it) stops within half a second."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def main() -> None:
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # prints from models go to the log, not into the protocol
    protocol_in = sys.stdin.buffer
    _exit_with_parent()
    from gbench.repro import git_commit

    git_commit()  # the checkout this process loads its code from, before a commit during the sweep can move it
    print(f"gbench worker pid {os.getpid()} started", file=sys.stderr, flush=True)
    while True:
        message = receive(protocol_in)
        if message is None:
            return
        job, opts, cwd = message
        send(protocol_out, execute(job, opts, cwd))


if __name__ == "__main__":
    main()
