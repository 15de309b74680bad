"""Seeding, determinism settings and the environment fingerprint every record carries."""

from __future__ import annotations

import os
import platform
import random
import subprocess
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

DeterminismMode = Literal["strict", "warn", "off"]


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all CUDA devices included)."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    os.environ["PYTHONHASHSEED"] = str(seed)


def resolve_determinism(mode: str | None, device: str) -> DeterminismMode:
    """Default: strict on CPU, warn on CUDA (several scatter kernels have no deterministic CUDA version)."""
    if mode in (None, "auto"):
        return "warn" if device.startswith("cuda") else "strict"
    if mode not in ("strict", "warn", "off"):
        from gbench.errors import GbenchError

        raise GbenchError(f"--deterministic '{mode}' is not one of strict, warn, off.")
    return mode  # type: ignore[return-value]


_CUBLAS_DEFAULT = ":4096:8"
_cublas_after_cuda_init: bool | None = None


def prepare_process(mode: DeterminismMode) -> None:
    """Process-wide settings that must precede the first CUDA call: cuBLAS is only deterministic with a fixed
    workspace (CUBLAS_WORKSPACE_CONFIG=:4096:8 or :16:8, CUDA >= 10.2; without it a strict run raises at the first
    matmul). Worker processes call this first thing; the sweep calls it before its first in-process job."""
    global _cublas_after_cuda_init
    if mode != "off" and "CUBLAS_WORKSPACE_CONFIG" not in os.environ:
        import torch

        _cublas_after_cuda_init = torch.cuda.is_initialized()
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = _CUBLAS_DEFAULT


def apply_determinism(mode: DeterminismMode) -> dict[str, Any]:
    """Apply the settings for `mode` and return them as recorded in the run record.

    strict: `torch.use_deterministic_algorithms(True)`: an operation with no deterministic implementation raises
    (the job is recorded failed, naming it). warn: the same with `warn_only=True`: such operations run and every
    one hit is listed in the record (`nondeterministic_ops`). off: torch's defaults, cuDNN autotuning excepted
    (kept off: its choice of kernel varies between runs). cuDNN is told to be deterministic unless off.
    """
    import torch

    prepare_process(mode)
    torch.use_deterministic_algorithms(mode != "off", warn_only=(mode == "warn"))
    torch.backends.cudnn.deterministic = mode != "off"
    torch.backends.cudnn.benchmark = False
    settings = {
        "mode": mode,
        "use_deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "torch_num_threads": torch.get_num_threads(),
    }
    if _cublas_after_cuda_init:  # set too late to bind a cuBLAS handle made before it: say so
        settings["cublas_config_set_after_cuda_init"] = True
    fill = getattr(getattr(torch.utils, "deterministic", None), "fill_uninitialized_memory", None)
    if fill is not None:
        settings["fill_uninitialized_memory"] = bool(fill)
    return settings


# How torch words a non-deterministic operation under `use_deterministic_algorithms(True, warn_only=True)`: most
# kernels say "<op> does not have a deterministic implementation"; the fused attention backward kernels on CUDA
# (memory-efficient and flash SDPA, as in PyG's GPSConv) say "<kernel> defaults to a non-deterministic algorithm", once per process.
_NONDETERMINISM_PHRASES = (" does not have a deterministic implementation",
                           " defaults to a non-deterministic algorithm")


def nondeterministic_op(text: str) -> str | None:
    """The operation a torch non-determinism warning names, or None when `text` is not one."""
    for phrase in _NONDETERMINISM_PHRASES:
        if phrase in text:
            return text.split(phrase)[0].strip()
    return None


class NondeterminismLog:
    """Collects the warnings torch raises for non-deterministic operations under `warn` mode. Some of them torch
    raises once per process (TORCH_WARN_ONCE: the fused attention backward kernels), which would leave every later
    job of a worker unflagged, so with `warn_always` (what `warn` mode asks for) torch's warn-always flag is on
    while the log is open; every other warning is re-emitted once per distinct message and place."""

    def __init__(self, warn_always: bool = True) -> None:
        self.ops: list[str] = []
        self._ctx = warnings.catch_warnings(record=True)
        self._caught: list[warnings.WarningMessage] = []
        self._want_always = warn_always
        self._warn_always = False

    def __enter__(self) -> NondeterminismLog:
        import torch

        self._caught = self._ctx.__enter__()
        warnings.simplefilter("always")
        self._warn_always = torch.is_warn_always_enabled()
        torch.set_warn_always(self._want_always or self._warn_always)
        return self

    def __exit__(self, *exc: Any) -> None:
        import torch

        torch.set_warn_always(self._warn_always)
        self._ctx.__exit__(*exc)
        seen: list[str] = []
        others: set[tuple[Any, ...]] = set()
        for w in self._caught:
            op = nondeterministic_op(str(w.message))
            if op is not None:
                if op not in seen:
                    seen.append(op)
                continue
            key = (w.category, str(w.message), w.filename, w.lineno)
            if key not in others:  # re-emit everything else so it is not swallowed, once
                others.add(key)
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        self.ops = seen


def resolve_device(device: str) -> str:
    """`auto` -> `cuda:0` when CUDA is available, else `cpu`; a named CUDA device must exist."""
    import torch

    from gbench.errors import GbenchError

    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise GbenchError(f"--device {device}: CUDA is not available on this machine; use --device cpu or auto.")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise GbenchError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here.")
        return f"cuda:{index}"
    raise GbenchError(f"--device '{device}' is not one of auto, cpu, cuda, cuda:N.")


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity where the platform says, else the machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The checkout's commit (`-dirty` with uncommitted changes to tracked files), read once per process: a
    worker reads it when it starts (gbench.executors.worker), so its records name the code it loaded, not a
    commit made while it trained."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _version(module: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return None


@lru_cache(maxsize=None)
def environment(device: str) -> dict[str, Any]:
    """Versions and hardware behind a record; enough to tell two environments apart."""
    import torch

    from gbench._version import __version__

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_geometric": _version("torch_geometric"),
        "ogb": _version("ogb"),
        "numpy": np.__version__,
        "scikit-learn": _version("scikit-learn"),
        "gbench": __version__,
        "git_commit": git_commit(),
        "cuda": torch.version.cuda,
    }
    env.update(_cpu_kernels())
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return env


# What decides whether two CPU records of the same job can be bitwise equal, besides the commit and the thread count:
# torch's build (its MKL picks a code path per CPU: an AMD EPYC and an Intel Xeon round differently even on
# the same OpenBLAS kernel, benchmarks/README.md section 25), the CPU, its vector kernels and numpy's BLAS kernel.
REPRODUCTION_FIELDS = ("torch", "cpu", "cpu_capability", "blas", "gpu")


def environment_differences(theirs: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    """Where two records' environments differ in a field that can make the same job's numbers differ, one phrase
    each ("cpu 'AMD EPYC' there, 'Intel Xeon' here"); empty when they agree on every field either names."""
    def shown(value: Any) -> str:
        return "not recorded" if value is None else repr(value)

    return [f"{key} {shown(theirs.get(key))} there, {shown(ours.get(key))} here" for key in REPRODUCTION_FIELDS
            if theirs.get(key) != ours.get(key)]


def _cpu_kernels() -> dict[str, Any]:
    """The CPU and kernels chosen for it: what makes CPU records of the same commit, seeds and thread count differ
    between machines. Torch's vector kernels (`cpu_capability`, e.g. AVX2 or AVX512; oneDNN dispatches on the CPU
    too) and the BLAS under numpy's `eigh` (`blas`, with the kernel family OpenBLAS picked for this CPU), which
    fixes the basis LapPE gets within a repeated eigenvalue's eigenspace."""
    import torch

    out: dict[str, Any] = {"cpu": platform.processor() or None}
    try:
        with open("/proc/cpuinfo") as f:
            out["cpu"] = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                              out["cpu"])
    except OSError:
        pass
    try:
        out["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):
        out["cpu_capability"] = None
    try:
        from threadpoolctl import threadpool_info

        blas = [f"{i.get('internal_api')} {i.get('version') or ''} {i.get('architecture') or ''}".split()
                for i in threadpool_info() if i.get("user_api") == "blas"]
        out["blas"] = "; ".join(" ".join(b) for b in blas) or None
    except ImportError:  # threadpoolctl comes with scikit-learn
        out["blas"] = None
    return out
