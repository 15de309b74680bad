"""Graph layouts for the renderer: node positions from a layout algorithm and the library (backend) that runs it.

A layout is named by its algorithm and its backend, and both are part of what an image means: igraph's Kamada-Kawai
is not numerically networkx's (different optimiser, different stopping rule), and fa2-modified's ForceAtlas2 starts
from other random positions than networkx's, so the drawings differ. networkx (`nx`) is the reference backend and
the default for every layout; a spec that wants a faster library names it (`render:kk:64:0:igraph`), which makes
it a different transform string, hence a different job.

| layout     | backends             | what runs                                                                  |
|------------|----------------------|----------------------------------------------------------------------------|
| `kk`       | `nx`, `igraph`       | Kamada-Kawai: scipy's L-BFGS on the stress (nx); igraph's C solver         |
| `fa2`      | `nx`, `fa2-modified` | ForceAtlas2, 100 iterations, seeded: numpy (nx); compiled Cython (fa2-mod) |
| `spectral` | `nx`                 | the two Laplacian eigenvectors after the constant one                      |
| `circular` | `nx`                 | nodes evenly on a circle in index order                                    |

Both fast backends start from fixed positions (igraph: the circle; fa2-modified: a numpy generator seeded with
`seed`), so a graph's layout is a function of its edges, the layout, the backend and the seed only: the same in
every process, which is what lets the renderer draw graphs in parallel.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from types import ModuleType

import numpy as np

from gbench.errors import GbenchError, SpecError

BACKENDS: dict[str, tuple[str, ...]] = {"kk": ("nx", "igraph"), "fa2": ("nx", "fa2-modified"),
                                        "spectral": ("nx",), "circular": ("nx",)}
LAYOUTS = tuple(BACKENDS)
ALL_BACKENDS = ("nx", "igraph", "fa2-modified")
# backend -> (module to import, the pip distribution that provides it; `igraph` is the current name of what was
# published as python-igraph, which is now a legacy alias that installs it)
PACKAGES: dict[str, tuple[str, str]] = {"nx": ("networkx", "networkx"), "igraph": ("igraph", "igraph"),
                                        "fa2-modified": ("fa2_modified", "fa2-modified")}
FA2_ITERATIONS = 100


def check(kind: str, backend: str) -> None:
    """Raise a SpecError in one sentence unless `backend` runs layout `kind`."""
    if kind not in BACKENDS:
        raise SpecError(f"layout '{kind}' is not known; known layouts: {', '.join(LAYOUTS)}.")
    if backend not in BACKENDS[kind]:
        raise SpecError(f"layout '{kind}' has no backend '{backend}'; its backends: {', '.join(BACKENDS[kind])} "
                        f"(e.g. render:{kind}:64:0:{BACKENDS[kind][-1]}).")


def require(backend: str) -> ModuleType:
    """The backend's library, or a GbenchError naming the pip package to install."""
    module, package = PACKAGES[backend]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise GbenchError(f"render backend '{backend}' needs the Python package {package}, which is not installed; "
                          f"install it with `pip install {package}` (or `pip install gbench[layouts]`).") from None


def backend_version(backend: str) -> str:
    """The installed version of the backend's library (part of the render cache key: a new version may move a
    layout)."""
    require(backend)
    return importlib.metadata.version(PACKAGES[backend][1])


def layout(n: int, edges: np.ndarray, kind: str, seed: int = 0, backend: str = "nx") -> np.ndarray:
    """Node positions [n, 2] (float64, the library's own units) of a graph with `n` nodes and undirected edges
    [m, 2] (each once); `seed` is used by the stochastic layout (fa2)."""
    check(kind, backend)
    if n == 1:
        return np.zeros((1, 2))
    if backend == "igraph":
        return _igraph_kk(n, edges)
    if backend == "fa2-modified":
        return _fa2_modified(n, edges, seed)
    return _networkx(n, edges, kind, seed)


def normalize(pos: np.ndarray) -> np.ndarray:
    """Positions [n, 2] scaled into [0, 1]^2, aspect ratio kept and the drawing centred; a drawing with no extent
    (one node, or all nodes on one point) is put at the centre (0.5, 0.5)."""
    p = pos - pos.min(0)
    span = float(p.max()) if p.size else 0.0
    if not span > 0:
        return np.full_like(pos, 0.5)
    p = p / span
    return p + (1.0 - p.max(0)) / 2


def _networkx(n: int, edges: np.ndarray, kind: str, seed: int) -> np.ndarray:
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges.tolist())
    if kind == "kk":
        pos = nx.kamada_kawai_layout(g)
    elif kind == "spectral":
        pos = nx.spectral_layout(g)
    elif kind == "fa2":
        pos = nx.forceatlas2_layout(g, seed=seed, max_iter=FA2_ITERATIONS)
    else:
        pos = nx.circular_layout(g)
    return np.array([pos[v] for v in range(n)], dtype=np.float64)


def _igraph_kk(n: int, edges: np.ndarray) -> np.ndarray:
    ig = require("igraph")
    g = ig.Graph(n=n, edges=edges.tolist())
    # The circle as the start, given explicitly rather than left to the library's default, so the layout does not
    # depend on igraph's random generator or on a change of that default.
    angle = 2 * np.pi * np.arange(n) / n
    start = np.stack([np.cos(angle), np.sin(angle)], 1).tolist()
    return np.asarray(g.layout_kamada_kawai(seed=start).coords, dtype=np.float64)


def _fa2_modified(n: int, edges: np.ndarray, seed: int) -> np.ndarray:
    fa2 = require("fa2-modified")
    adjacency = np.zeros((n, n))
    adjacency[edges[:, 0], edges[:, 1]] = 1.0
    adjacency[edges[:, 1], edges[:, 0]] = 1.0
    start = np.random.default_rng(seed).random((n, 2))
    # networkx's defaults (scaling 2, gravity 1, jitter tolerance 1, exact repulsion), so the two backends draw
    # the same algorithm; Barnes-Hut would be slower at 20-150 nodes.
    solver = fa2.ForceAtlas2(scalingRatio=2.0, gravity=1.0, jitterTolerance=1.0, barnesHutOptimize=False,
                             verbose=False)
    return np.asarray(solver.forceatlas2(adjacency, pos=start, iterations=FA2_ITERATIONS), dtype=np.float64)
