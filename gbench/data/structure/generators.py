"""Graph generators of the structural tasks: the topology and bridge families (Appendix D.1.1, D.1.4) and the
spectral-gap families (Appendix D.1.3). A graph is (n, edges) with edges an int64 array [m, 2], u < v, unique,
no self-loops; every generator draws from the numpy Generator it is given and nothing else."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from gbench.data.structure.labels import component_labels

TOPOLOGY_CLASSES = ("cyclic", "geometric", "community", "hierarchical", "bottleneck", "multicore")
BRIDGE_FAMILIES = ("geometric", "community", "hierarchical", "bottleneck", "multicore")
SPECTRAL_FAMILIES = ("sbm_dumbbell", "sbm_multi", "geometric_evolution", "rewired")
SYMMETRIC_FAMILIES = ("cayley", "double_cover", "product", "base_product", "cyclic_cover")
ASYMMETRIC_FAMILIES = ("swapped", "asymmetric_product")

# ---------------------------------------------------------------------------------------------------------------
# Edge-list helpers. A graph is (n, edges) with edges an int64 array [m, 2], u < v, unique, no self-loops.


def _canon(edges: np.ndarray | list, n: int) -> np.ndarray:
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    e = e[e[:, 0] != e[:, 1]]
    lo, hi = np.minimum(e[:, 0], e[:, 1]), np.maximum(e[:, 0], e[:, 1])
    keys = np.unique(lo * n + hi)
    return np.stack([keys // n, keys % n], 1)


def _er(rng: np.random.Generator, nodes: np.ndarray, p: float) -> np.ndarray:
    nodes = np.asarray(nodes)
    iu, ju = np.triu_indices(len(nodes), 1)
    keep = rng.random(len(iu)) < p
    return np.stack([nodes[iu[keep]], nodes[ju[keep]]], 1)


def _between(rng: np.random.Generator, a: np.ndarray, b: np.ndarray, p: float) -> np.ndarray:
    mask = rng.random((len(a), len(b))) < p
    i, j = np.nonzero(mask)
    return np.stack([np.asarray(a)[i], np.asarray(b)[j]], 1)




def _connect(rng: np.random.Generator, n: int, edges: np.ndarray, nodes: np.ndarray | None = None) -> np.ndarray:
    """Join the components (of the subgraph on `nodes`, default all) with one random edge each, component c to a
    random node of components 0..c-1, so the result is connected."""
    nodes = np.arange(n) if nodes is None else np.asarray(nodes)
    local = {int(v): i for i, v in enumerate(nodes)}
    sub = [(local[int(u)], local[int(v)]) for u, v in edges if int(u) in local and int(v) in local]
    lab = component_labels(len(nodes), np.asarray(sub, dtype=np.int64).reshape(-1, 2))
    if lab.max(initial=0) == 0:
        return edges
    extra = []
    for c in range(1, int(lab.max()) + 1):
        u = nodes[rng.choice(np.nonzero(lab == c)[0])]
        v = nodes[rng.choice(np.nonzero(lab < c)[0])]
        extra.append((u, v))
    return _canon(np.concatenate([edges.reshape(-1, 2), np.asarray(extra)]), n)


def _partition(n: int, k: int) -> list[np.ndarray]:
    """Nodes 0..n-1 in k consecutive near-equal blocks."""
    sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    bounds = np.cumsum([0, *sizes])
    return [np.arange(bounds[i], bounds[i + 1]) for i in range(k)]


def _double_edge_swaps(rng: np.random.Generator, n: int, edges: np.ndarray, swaps: int, tries: int = 50
                       ) -> np.ndarray:
    """`swaps` degree-preserving swaps (a,b),(c,d) -> (a,d),(c,b), skipping ones that make a loop or multi-edge."""
    es = [tuple(e) for e in edges.tolist()]
    present = set(es)
    done = 0
    for _ in range(swaps * tries):
        if done >= swaps or len(es) < 2:
            break
        i, j = rng.choice(len(es), 2, replace=False)
        (a, b), (c, d) = es[i], es[j]
        if rng.random() < 0.5:
            c, d = d, c
        if len({a, b, c, d}) < 4:
            continue
        e1, e2 = (min(a, d), max(a, d)), (min(c, b), max(c, b))
        if e1 in present or e2 in present:
            continue
        present.discard(es[i])
        present.discard(es[j])
        es[i], es[j] = e1, e2
        present.update((e1, e2))
        done += 1
    return _canon(np.asarray(es), n)


def _pdist(pts: np.ndarray) -> np.ndarray:
    diff = pts[:, None, :] - pts[None, :, :]
    return np.sqrt((diff ** 2).sum(-1))


def _radius_edges(pts: np.ndarray, r: float) -> np.ndarray:
    d = _pdist(pts)
    i, j = np.nonzero(np.triu(d < r, 1))
    return np.stack([i, j], 1)


# ---------------------------------------------------------------------------------------------------------------
# Topology and bridge families (Appendix D.1.1, D.1.4)


def gen_cyclic(rng, n):
    """Annular random geometric graph: r_inner ~ U[0.7, 1.2], width ~ U(0.05, 0.3), radius ~ U[0.5, 0.8] (plane
    units), points uniform by area in the annulus."""
    r_in = rng.uniform(0.7, 1.2)
    r_out = r_in + rng.uniform(0.05, 0.3)
    radius = rng.uniform(0.5, 0.8)
    theta = rng.uniform(0, 2 * np.pi, n)
    r = np.sqrt(rng.uniform(r_in ** 2, r_out ** 2, n))
    pts = np.stack([r * np.cos(theta), r * np.sin(theta)], 1)
    return _connect(rng, n, _canon(_radius_edges(pts, radius), n))


def gen_geometric(rng, n):
    """Random geometric graph in the unit square, radius ~ U[0.15, 0.25]; components bridged with added edges."""
    pts = rng.random((n, 2))
    return _connect(rng, n, _canon(_radius_edges(pts, rng.uniform(0.15, 0.25)), n))


def gen_community(rng, n):
    """3-5 equal groups (at most n // 5, so each has 5+ nodes), p_in ~ U[0.6, 0.8], p_out ~ U[0.01, 0.05]."""
    k = min(int(rng.integers(3, 6)), max(2, n // 5))
    blocks = _partition(n, k)
    p_in, p_out = rng.uniform(0.6, 0.8), rng.uniform(0.01, 0.05)
    parts = [_er(rng, b, p_in) for b in blocks]
    parts += [_between(rng, blocks[i], blocks[j], p_out) for i in range(k) for j in range(i + 1, k)]
    return _connect(rng, n, _canon(np.concatenate(parts), n))


def gen_hierarchical(rng, n):
    """L ~ {2, 3, 4} levels, level l (0 = bottom) holding a share 0.4^l of the nodes (top level at least 1 node);
    intra-level edge probability 0.7 * L^-(L-1-l) (0.7 at the top, divided by L per level down: our reading of the
    paper's garbled formula); every node below the top links to 1-3 random nodes of the level above."""
    levels = int(rng.integers(2, 5))
    w = 0.4 ** np.arange(levels)
    sizes = np.maximum(1, np.round(n * w / w.sum())).astype(int)
    sizes[0] = n - sizes[1:].sum()
    bounds = np.cumsum([0, *sizes])
    groups = [np.arange(bounds[i], bounds[i + 1]) for i in range(levels)]
    parts = [_er(rng, g, min(1.0, 0.7 * levels ** -(levels - 1 - lvl))) for lvl, g in enumerate(groups)]
    for lvl in range(levels - 1):
        above = groups[lvl + 1]
        for v in groups[lvl]:
            k = min(int(rng.integers(1, 4)), len(above))
            parts.append(np.stack([np.full(k, v), rng.choice(above, k, replace=False)], 1))
    return _connect(rng, n, _canon(np.concatenate(parts), n))


def gen_bottleneck(rng, n, width: int | None = None):
    """2-4 equal communities in a chain, p_in ~ U[0.4, 0.6], each made connected; adjacent communities joined by
    `width` (1-3, or fixed) disjoint edges between distinct node pairs: the bottleneck."""
    k = min(int(rng.integers(2, 5)), max(2, n // 5))
    blocks = _partition(n, k)
    p_in = rng.uniform(0.4, 0.6)
    edges = np.zeros((0, 2), dtype=np.int64)
    for b in blocks:
        edges = _connect(rng, n, _canon(np.concatenate([edges, _er(rng, b, p_in)]), n), b)
    links = []
    for i in range(k - 1):
        w = width or int(rng.integers(1, 4))
        w = min(w, len(blocks[i]), len(blocks[i + 1]))
        links.append(np.stack([rng.choice(blocks[i], w, replace=False), rng.choice(blocks[i + 1], w, replace=False)],
                              1))
    return _connect(rng, n, _canon(np.concatenate([edges, *links]), n))


def gen_bottleneck_single(rng, n):
    """Bottleneck with single-edge connections between adjacent communities (the bridge task's variant)."""
    return gen_bottleneck(rng, n, width=1)


def gen_multicore(rng, n):
    """2-3 cores holding a share U[0.5, 0.6] of the nodes (4+ per core), core p ~ U[0.6, 0.8], each core made
    connected; 1-2 bridging nodes per core pair, each linked to one random node of both cores; every other
    periphery node attaches to 1-2 nodes of one random core."""
    c = int(rng.integers(2, 4))
    core_total = max(4 * c, int(round(rng.uniform(0.5, 0.6) * n)))
    cores = _partition(core_total, c)
    p = rng.uniform(0.6, 0.8)
    edges = np.zeros((0, 2), dtype=np.int64)
    for core in cores:
        edges = _connect(rng, n, _canon(np.concatenate([edges, _er(rng, core, p)]), n), core)
    periphery = list(range(core_total, n))
    parts = [edges]
    for i in range(c):
        for j in range(i + 1, c):
            for _ in range(int(rng.integers(1, 3))):
                a, b = rng.choice(cores[i]), rng.choice(cores[j])
                if periphery:
                    v = periphery.pop(0)
                    parts.append(np.array([[v, a], [v, b]]))
                else:
                    parts.append(np.array([[a, b]]))
    for v in periphery:
        core = cores[int(rng.integers(c))]
        k = min(int(rng.integers(1, 3)), len(core))
        parts.append(np.stack([np.full(k, v), rng.choice(core, k, replace=False)], 1))
    return _connect(rng, n, _canon(np.concatenate(parts), n))


TOPOLOGY_GENERATORS: dict[str, Callable] = {
    "cyclic": gen_cyclic, "geometric": gen_geometric, "community": gen_community,
    "hierarchical": gen_hierarchical, "bottleneck": gen_bottleneck, "multicore": gen_multicore,
}
BRIDGE_GENERATORS: dict[str, Callable] = {
    "geometric": gen_geometric, "community": gen_community, "hierarchical": gen_hierarchical,
    "bottleneck": gen_bottleneck_single, "multicore": gen_multicore,
}


# ---------------------------------------------------------------------------------------------------------------
# Spectral gap families (Appendix D.1.3)


def sample_mu(rng) -> float:
    """Mixing parameter: 40% U[0, 0.2), 30% U[0.2, 0.5), 30% U[0.5, 0.8)."""
    u = rng.random()
    return float(rng.uniform(0.0, 0.2) if u < 0.4 else rng.uniform(0.2, 0.5) if u < 0.7 else rng.uniform(0.5, 0.8))


def p_out_for(rng, mu: float) -> float:
    if mu < 0.1:
        return float(rng.uniform(0.001, 0.02))
    if mu < 0.3:
        return float(rng.uniform(0.02, 0.1))
    if mu < 0.7:
        return float(rng.uniform(0.1, 0.3))
    return float(rng.uniform(0.3, mu))


def _sbm(rng, n, k, mu):
    blocks = _partition(n, k)
    p_in, p_out = rng.uniform(0.6, 0.8), p_out_for(rng, mu)
    parts = [_er(rng, b, p_in) for b in blocks]
    parts += [_between(rng, blocks[i], blocks[j], p_out) for i in range(k) for j in range(i + 1, k)]
    return _connect(rng, n, _canon(np.concatenate(parts), n))


def _min_connected_rgg(rng, n):
    from scipy.sparse.csgraph import minimum_spanning_tree

    pts = rng.random((n, 2))
    d = _pdist(pts)
    r = float(minimum_spanning_tree(d).max())  # the smallest radius at which the geometric graph is connected
    i, j = np.nonzero(np.triu(d <= r, 1))
    return _canon(np.stack([i, j], 1), n)


def gen_sbm_dumbbell(rng, n):
    return _sbm(rng, n, 2, sample_mu(rng))


def gen_sbm_multi(rng, n):
    return _sbm(rng, n, int(rng.integers(3, 6)), sample_mu(rng))


def gen_geometric_evolution(rng, n):
    """Geometric graph at the minimal connecting radius, plus round(mu * 0.1 * n * ln n) random new edges."""
    mu = sample_mu(rng)
    edges = _min_connected_rgg(rng, n)
    extra = int(round(mu * 0.1 * n * math.log(n)))
    present = set(map(tuple, edges.tolist()))
    add = []
    for _ in range(extra * 20):
        if len(add) >= extra:
            break
        u, v = sorted(rng.choice(n, 2, replace=False).tolist())
        if (u, v) not in present:
            present.add((u, v))
            add.append((u, v))
    return _canon(np.concatenate([edges, np.asarray(add, dtype=np.int64).reshape(-1, 2)]), n)


def gen_rewired(rng, n):
    """Configuration-model rewiring: an SBM (2-5 blocks) or minimal geometric base, with a fraction U[0.3, 0.8] of
    its edges rewired by degree-preserving double-edge swaps (each swap rewires two edges); reconnected after."""
    mu = sample_mu(rng)
    base = _sbm(rng, n, int(rng.integers(2, 6)), mu) if rng.random() < 0.5 else _min_connected_rgg(rng, n)
    frac = rng.uniform(0.3, 0.8)
    swapped = _double_edge_swaps(rng, n, base, max(1, int(round(frac * len(base) / 2))))
    return _connect(rng, n, swapped)


SPECTRAL_GENERATORS: dict[str, Callable] = {
    "sbm_dumbbell": gen_sbm_dumbbell, "sbm_multi": gen_sbm_multi,
    "geometric_evolution": gen_geometric_evolution, "rewired": gen_rewired,
}
