"""Graph drawings as images for vision models: a networkx layout, rasterised by a small numpy renderer.

The input transform `render:<layout>:<size>[:<seed>]` (e.g. `render:kk:64`) attaches `image`, a uint8 tensor
[1, 3, size, size], to every graph; a batch then holds `image` [num_graphs, 3, size, size]. Layouts: `kk`
(Kamada-Kawai), `spectral`, `fa2` (ForceAtlas2, seeded) and `circular`, all from networkx. Every graph is drawn once
per dataset and the images are cached under `<cache>/renders/`, keyed by the graphs' edges, the layout, the size, the
seed and this module's source, so the layout's randomness is frozen, as in GraphAbstract.

The look follows the paper's (Appendix D): a black background, white edges (alpha 0.8) and sky-blue nodes with a
white border; sizes scale with the image (at 224 px: node radius ~4.9 px, i.e. matplotlib's s=50 at 100 dpi; edges
~1 px anti-aliased). Positions are centred and scaled to fill the image with a margin, keeping the aspect ratio.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from gbench.errors import SpecError

RENDER_VERSION = "render-v1"
LAYOUTS = ("kk", "spectral", "fa2", "circular")
SKYBLUE = np.array([135, 206, 235], dtype=np.float32) / 255.0
EDGE_ALPHA = 0.8


def layout(n: int, edges: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """Node positions [n, 2] (float64) from networkx; `seed` is used by the stochastic layouts (fa2)."""
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges.tolist())
    if n == 1:
        return np.zeros((1, 2))
    if kind == "kk":
        pos = nx.kamada_kawai_layout(g)
    elif kind == "spectral":
        pos = nx.spectral_layout(g)
    elif kind == "fa2":
        pos = nx.forceatlas2_layout(g, seed=seed, max_iter=100)
    elif kind == "circular":
        pos = nx.circular_layout(g)
    else:
        raise SpecError(f"layout '{kind}' is not known; known layouts: {', '.join(LAYOUTS)}.")
    return np.array([pos[v] for v in range(n)], dtype=np.float64)


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


def render_one(n: int, edges: np.ndarray, kind: str, size: int, seed: int = 0) -> np.ndarray:
    return rasterize(layout(n, edges, kind, seed), edges, size)


def _undirected(edge_index: torch.Tensor) -> np.ndarray:
    ei = edge_index.numpy()
    keep = ei[0] < ei[1]
    return np.stack([ei[0][keep], ei[1][keep]], 1)


def _parse(args: list[str]) -> tuple[str, int, int]:
    if not args or args[0] not in LAYOUTS:
        raise SpecError(f"transform render:{':'.join(args)}: give a layout ({', '.join(LAYOUTS)}) and a size, "
                        "e.g. render:kk:64.")
    try:
        size = int(args[1]) if len(args) > 1 else 64
        seed = int(args[2]) if len(args) > 2 else 0
    except ValueError:
        raise SpecError(f"transform render:{':'.join(args)}: size and seed must be integers.") from None
    if not 16 <= size <= 1024:
        raise SpecError(f"transform render:{':'.join(args)}: the image size must be between 16 and 1024.")
    return args[0], size, seed


def _key(graphs, kind: str, size: int, seed: int) -> str:
    h = hashlib.sha256()
    with open(__file__, "rb") as f:
        h.update(f.read())
    h.update(f"{RENDER_VERSION}|{kind}|{size}|{seed}".encode())
    for g in graphs:
        h.update(int(g.num_nodes).to_bytes(4, "little"))
        h.update(g.edge_index.numpy().tobytes())
    return h.hexdigest()[:24]


def render_images(graphs, kind: str, size: int, seed: int = 0, ctx=None) -> torch.Tensor:
    """uint8 [G, 3, size, size]: from the render cache when `ctx` has one, else drawn (and cached)."""
    from gbench.data.staging import cached_tensors

    def draw() -> torch.Tensor:
        return torch.from_numpy(np.stack([render_one(int(g.num_nodes), _undirected(g.edge_index), kind, size, seed)
                                          for g in graphs]))

    if ctx is None:
        return draw()
    return cached_tensors(ctx.cache_dir / "renders" / f"{kind}-{size}-{_key(graphs, kind, size, seed)}.pt", draw)


def render_transform(graphs, args: list[str], ctx, key: str) -> tuple[list, dict[str, Any]]:
    """The `render:<layout>:<size>[:<seed>]` input transform: graph.image := uint8 [1, 3, size, size]."""
    kind, size, seed = _parse(args)
    images = render_images(graphs, kind, size, seed, ctx)
    out = []
    for g, im in zip(graphs, images):
        c = g.clone()
        c.image = im.unsqueeze(0)
        out.append(c)
    return out, {"image_size": size, "image_channels": 3, "image_layout": kind}
