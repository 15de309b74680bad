"""Graph drawings as images for vision models: a layout (gbench.data.layouts), rasterised by a small numpy renderer.

The input transform `render:<layout>:<size>[:<seed>[:<backend>]]` (e.g. `render:kk:64`, `render:kk:64:0:igraph`)
attaches `image`, a uint8 tensor [1, 3, size, size], to every graph; a batch then holds `image`
[num_graphs, 3, size, size]. Layouts: `kk` (Kamada-Kawai), `spectral`, `fa2` (ForceAtlas2, seeded) and `circular`;
backends: `nx` (networkx, the reference and the default), `igraph` (kk) and `fa2-modified` (fa2), see
gbench/data/layouts.py. The backend is part of the transform string, so a spec that changes it is a new job.

Every graph is drawn once per dataset, in parallel over the available cores (a pool of processes over graphs;
`GBENCH_RENDER_PROCESSES` limits it; each graph's image depends on that graph only, so the images are the same
whatever the number of processes). The images are cached under `<cache>/renders/`, keyed by the graphs' edges,
the layout, the backend and its library's version, the size, the seed and the renderer's source, not by the model:
every model that draws the same dataset the same way reads the same file, written atomically under the cache lock,
so the layout's randomness is frozen, as in GraphAbstract.

The look follows the paper's (Appendix D): a black background, white edges (alpha 0.8) and sky-blue nodes with a
white border; sizes scale with the image (at 224 px: node radius ~4.9 px, i.e. matplotlib's s=50 at 100 dpi; edges
~1 px anti-aliased). Positions are centred and scaled to fill the image with a margin, keeping the aspect ratio.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gbench.data.layouts import ALL_BACKENDS, BACKENDS, LAYOUTS, backend_version, check, layout, require
from gbench.errors import GbenchError, SpecError

__all__ = ["BACKENDS", "LAYOUTS", "layout", "rasterize", "render_images", "render_one", "render_transform"]

RENDER_VERSION = "render-v1"
SKYBLUE = np.array([135, 206, 235], dtype=np.float32) / 255.0
EDGE_ALPHA = 0.8


def rasterize(pos: np.ndarray, edges: np.ndarray, size: int) -> np.ndarray:
    """Draw a graph: positions [n, 2] (any units), undirected edges [m, 2] -> uint8 [3, size, size]."""
    s = float(size)
    radius = max(1.0, 0.022 * s)
    border = max(0.5, 0.006 * s)
    margin = radius + border + 1.0
    p = pos - pos.min(0)
    span = float(p.max()) if p.size else 0.0
    scale = (s - 2 * margin) / span if span > 0 else 0.0
    p = p * scale + margin + ((s - 2 * margin) - p.max(0) * scale) / 2  # centre the drawing
    img = np.zeros((size, size, 3), dtype=np.float32)

    if len(edges):
        # Edges: samples every half pixel along each segment, splatted bilinearly; two samples per pixel of length
        # give a sum of about 2 on the line, so coverage = min(1, sum / 2) (crossings saturate).
        a, b = p[edges[:, 0]], p[edges[:, 1]]
        length = np.sqrt(((b - a) ** 2).sum(1))
        counts = np.maximum(2, np.ceil(length * 2).astype(np.int64) + 1)
        which = np.repeat(np.arange(len(edges)), counts)
        start = np.repeat(np.cumsum(counts) - counts, counts)
        t = (np.arange(counts.sum()) - start) / np.repeat(counts - 1, counts)
        pts = a[which] + (b - a)[which] * t[:, None] - 0.5
        cover = np.zeros(size * size)
        x0, y0 = np.floor(pts[:, 0]).astype(np.int64), np.floor(pts[:, 1]).astype(np.int64)
        fx, fy = pts[:, 0] - x0, pts[:, 1] - y0
        for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            xi, yi = x0 + dx, y0 + dy
            ok = (xi >= 0) & (xi < size) & (yi >= 0) & (yi < size)
            cover += np.bincount(yi[ok] * size + xi[ok], weights=w[ok], minlength=size * size)
        cover = np.minimum(1.0, cover / 2.0).reshape(size, size).astype(np.float32)
        alpha = (EDGE_ALPHA * cover)[..., None]
        img = img * (1 - alpha) + alpha  # white edges

    # Nodes: anti-aliased discs (coverage = clip(r - d + 1/2)), a white outer ring then the sky-blue fill.
    reach = int(np.ceil(radius + border + 1))
    off = np.arange(-reach, reach + 1)
    ox, oy = np.meshgrid(off, off)
    cx, cy = np.floor(p[:, 0]).astype(np.int64), np.floor(p[:, 1]).astype(np.int64)
    px = cx[:, None, None] + ox[None]
    py = cy[:, None, None] + oy[None]
    d = np.sqrt((px + 0.5 - p[:, 0, None, None]) ** 2 + (py + 0.5 - p[:, 1, None, None]) ** 2)
    ok = (px >= 0) & (px < size) & (py >= 0) & (py < size)
    # Overlapping discs add their coverage, clipped at 1 (np.bincount: far faster than an unbuffered maximum).
    flat = py[ok] * size + px[ok]
    outer = np.minimum(1.0, np.bincount(flat, np.clip(radius + border - d[ok] + 0.5, 0, 1), size * size))
    fill = np.minimum(1.0, np.bincount(flat, np.clip(radius - d[ok] + 0.5, 0, 1), size * size))
    outer = outer.reshape(size, size).astype(np.float32)
    fill = fill.reshape(size, size).astype(np.float32)
    img = img * (1 - outer[..., None]) + outer[..., None]
    img = img * (1 - fill[..., None]) + SKYBLUE * fill[..., None]
    # y grows downwards in the image; flip so the picture reads like the plot (cosmetic, fixed).
    img = img[::-1]
    return np.ascontiguousarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(2, 0, 1))


def render_one(n: int, edges: np.ndarray, kind: str, size: int, seed: int = 0, backend: str = "nx") -> np.ndarray:
    """One graph (n nodes, undirected edges [m, 2]) -> uint8 [3, size, size]."""
    return rasterize(layout(n, edges, kind, seed, backend), edges, size)


# Below this many graphs a pool costs more than it saves: starting the processes and handing the graphs over
# takes tens of milliseconds with fork and seconds where only spawn exists, against 5-100 ms a graph for a layout.
PARALLEL_FROM = 64


def render_processes(processes: int | None = None) -> int:
    """How many processes draw: `processes` if given, else `GBENCH_RENDER_PROCESSES`, else the usable cores."""
    if processes is None:
        env = os.environ.get("GBENCH_RENDER_PROCESSES", "").strip()
        if env:
            try:
                processes = int(env)
            except ValueError:
                processes = 0
            if processes < 1:
                raise GbenchError(f"GBENCH_RENDER_PROCESSES={env!r} must be a whole number of processes, 1 or "
                                  "more; unset it to use every usable core.")
        else:
            # the same count as gbench.repro.usable_cores, which this lower layer may not import
            processes = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, processes)


def _draw_chunk(job: tuple[list[tuple[int, np.ndarray]], str, int, int, str]) -> np.ndarray:
    items, kind, size, seed, backend = job
    return np.stack([render_one(n, edges, kind, size, seed, backend) for n, edges in items])


def _preload(kind: str, backend: str) -> None:
    render_one(3, np.array([[0, 1], [1, 2]]), kind, 16, 0, backend)  # imports every module a layout touches


def draw(items: list[tuple[int, np.ndarray]], kind: str, size: int, seed: int = 0, backend: str = "nx",
         processes: int | None = None) -> np.ndarray:
    """Draw graphs given as (num_nodes, undirected edges [m, 2]) -> uint8 [G, 3, size, size], in order.

    `processes` None: the pool is used from PARALLEL_FROM graphs on, with `render_processes()` processes; an
    explicit number > 1 always uses a pool of that size. The images do not depend on it.
    """
    check(kind, backend)
    require(backend)  # in this process, so a missing library is one clear error, not a worker's traceback
    if not items:
        return np.zeros((0, 3, size, size), dtype=np.uint8)
    n_proc = min(render_processes(processes), len(items))
    if (processes is None and len(items) < PARALLEL_FROM) or multiprocessing.current_process().daemon:
        n_proc = 1  # a daemonic process may not start children
    if n_proc == 1:
        return _draw_chunk((items, kind, size, seed, backend))
    step = math.ceil(len(items) / (4 * n_proc))  # a few chunks per process, so an unlucky chunk does not dominate
    jobs = [(items[i:i + step], kind, size, seed, backend) for i in range(0, len(items), step)]
    # fork where the platform has it: a spawned process would re-run the caller's main script (a user's script
    # without a main guard breaks) and pay a second or more of imports. The children run numpy, scipy and the
    # layout library only, never torch, so the parent's torch threads are not a hazard; the libraries are imported
    # here first so no child imports anything.
    _preload(kind, backend)
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(n_proc, mp_context=multiprocessing.get_context(method)) as pool:
        return np.concatenate(list(pool.map(_draw_chunk, jobs)))


def _undirected(edge_index: torch.Tensor) -> np.ndarray:
    ei = edge_index.numpy()
    keep = ei[0] < ei[1]
    return np.stack([ei[0][keep], ei[1][keep]], 1)


def _parse(args: list[str]) -> tuple[str, int, int, str]:
    """The transform's words (layout, size, seed, backend; RenderParams' fields in order)."""
    spec = f"render:{':'.join(args)}"
    if not args or args[0] not in LAYOUTS:
        raise SpecError(f"transform {spec}: give a layout ({', '.join(LAYOUTS)}) and a size, e.g. render:kk:64.")
    if len(args) > 4:
        raise SpecError(f"transform {spec}: at most layout, size, seed and backend, e.g. render:kk:64:0:igraph.")
    try:
        size = int(args[1]) if len(args) > 1 else 64
        seed = int(args[2]) if len(args) > 2 else 0
    except ValueError:
        raise SpecError(f"transform {spec}: size and seed must be integers (the backend comes after the seed, "
                        "e.g. render:kk:64:0:igraph).") from None
    if not 16 <= size <= 1024:
        raise SpecError(f"transform {spec}: the image size must be between 16 and 1024.")
    backend = args[3] if len(args) > 3 else "nx"
    if backend not in ALL_BACKENDS:
        raise SpecError(f"transform {spec}: backend '{backend}' is not known; known: {', '.join(ALL_BACKENDS)}.")
    check(args[0], backend)
    return args[0], size, seed, backend


def _key(graphs, kind: str, size: int, seed: int, backend: str) -> str:
    h = hashlib.sha256()
    for module in (Path(__file__), Path(__file__).with_name("layouts.py")):
        h.update(module.read_bytes())
    h.update(f"{RENDER_VERSION}|{kind}|{size}|{seed}|{backend}|{backend_version(backend)}".encode())
    for g in graphs:
        h.update(int(g.num_nodes).to_bytes(4, "little"))
        h.update(g.edge_index.numpy().tobytes())
    return h.hexdigest()[:24]


def render_images(graphs, kind: str, size: int, seed: int = 0, ctx=None, backend: str = "nx",
                  processes: int | None = None) -> torch.Tensor:
    """uint8 [G, 3, size, size]: from the render cache when `ctx` has one, else drawn (and cached).

    The cache file is keyed by what the images depend on (the graphs, layout, backend, size, seed), not by who
    asks, so every model drawing a dataset the same way shares one file; it is built under the cache folder's
    lock and written atomically, so two processes never draw it twice nor read half of it.
    """
    from gbench.data.staging import cached_tensors

    check(kind, backend)

    def build() -> torch.Tensor:
        items = [(int(g.num_nodes), _undirected(g.edge_index)) for g in graphs]
        return torch.from_numpy(draw(items, kind, size, seed, backend, processes))

    if ctx is None:
        return build()
    name = f"{kind}-{backend}-{size}-{_key(graphs, kind, size, seed, backend)}.pt"
    return cached_tensors(ctx.cache_dir / "renders" / name, build)


def render_transform(graphs, args: list[str], ctx, key: str) -> tuple[list, dict[str, Any]]:
    """The `render:<layout>:<size>[:<seed>[:<backend>]]` input transform: graph.image := uint8 [1, 3, size, size]."""
    kind, size, seed, backend = _parse(args)
    images = render_images(graphs, kind, size, seed, ctx, backend)
    out = []
    for g, im in zip(graphs, images):
        c = g.clone()
        c.image = im.unsqueeze(0)
        out.append(c)
    return out, {"image_size": size, "image_channels": 3, "image_layout": kind}
