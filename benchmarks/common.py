"""Shared helpers for the benchmark scripts: interleaved timing, environment line, result tables."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def environment() -> str:
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or platform.machine()
    return (f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores, {dev}, "
            f"python {platform.python_version()}")


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1,
                sync: Callable[[], None] | None = None) -> dict[str, list[float]]:
    """Time each function `repeats` times, alternating between them (A B A B ...), so that drift in machine load
    affects all of them alike. Returns wall seconds per call."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            if sync:
                sync()
            t0 = time.perf_counter()
            fn()
            if sync:
                sync()
            times[name].append(time.perf_counter() - t0)
    return times


def ratio_line(name: str, times: dict[str, list[float]], base: str, other: str) -> dict[str, Any]:
    b, o = statistics.median(times[base]), statistics.median(times[other])
    return {"case": name, base: round(b, 4), other: round(o, 4), "ratio": round(o / b, 3),
            "repeats": len(times[base])}


def write_json(rows: list[dict[str, Any]], path: str | None) -> None:
    text = json.dumps({"environment": environment(), "rows": rows}, indent=1)
    print(text)
    if path:
        Path(path).write_text(text)


def laplacian_eigenvalues(edge_index: torch.Tensor, n: int, k: int | None = None):
    """The k smallest eigenvalues (all if k is None) of the symmetric normalized Laplacian I - D^-1/2 A D^-1/2 of an
    undirected graph on n nodes (gbench.data.transforms.normalized_laplacian), in float64 (numpy), computed here
    rather than read from a transform's cache."""
    import numpy as np

    from gbench.data.transforms import normalized_laplacian

    lam = np.linalg.eigvalsh(normalized_laplacian(edge_index, n))
    return lam if k is None else lam[:k]


def eigenvalue_multiplicity(edge_index: torch.Tensor, n: int, k: int = 16,
                            tol: float = 1e-6) -> tuple[bool, bool, float]:
    """Among the k+1 smallest normalized-Laplacian eigenvalues: (one is repeated, i.e. a consecutive gap under
    `tol`; the k-th equals the (k+1)-th, so that V V^T over k eigenvectors depends on the eigensolver's basis; the
    smallest consecutive gap)."""
    import numpy as np

    gaps = np.diff(laplacian_eigenvalues(edge_index, n, k + 1))
    if not gaps.size:
        return False, False, float("inf")
    return bool(gaps.min() < tol), bool(n > k and gaps[k - 1] < tol), float(gaps.min())


def predicted_classes(model, batcher, idx: torch.Tensor, batch_size: int, batch_statistics: bool) -> torch.Tensor:
    """argmax predictions of a graph classifier on the graphs `idx` (a `gbench.train.graph.GraphBatcher`), dropout
    off; batch norm from its running statistics, or with `batch_statistics` from each batch's own (which moves the
    running statistics: restore the state dict after if the model is used again). Leaves the model in eval mode."""
    model.eval()
    if batch_statistics:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.train()
    out = []
    with torch.no_grad():
        for batch, _ in batcher.batches(idx, batch_size):
            out.append(model(batch).argmax(1))
    model.eval()
    return torch.cat(out)
