"""Structural-abstraction tasks (GraphAbstract; Zhao et al., NeurIPS 2025, arXiv 2510.24788), generated.

Four tasks, each a set of small graphs in five scale splits (train / val / test_id on small graphs, test_near_ood
and test_far_ood on larger ones, Table 4 of the paper):

- `topology`: 6-way classification of the generator family (cyclic, geometric, community, hierarchical hub,
  bottleneck, multi-core periphery);
- `symmetry`: binary, 1 iff |Aut(G)| > 1 (pynauty), from symmetric constructions (Cayley graphs, bipartite double
  covers, Cartesian products, cyclic covers) and asymmetric ones (degree-preserving double-edge swaps of symmetric
  graphs, products of asymmetric graphs); base graphs are real (MUTAG molecules, Cora subgraphs) or, in the
  synthetic version, generated;
- `spectral_gap`: regression on lambda_2 of L = I - D^-1/2 A D^-1/2 (SBM dumbbell / multi-community, geometric
  evolution, configuration-model rewiring);
- `bridges`: regression on the number of bridges (networkx), five topology families without the cyclic one.

Generators are re-implemented from the paper's Appendix D.1; where it leaves a choice open the choice is made
here, named in the task spec's `deviations`, and pinned by `GENERATOR` (bump it, and the task versions, whenever a
generator changes). Every graph is connected: components left by a generator are joined by single random edges,
so lambda_2 > 0 always (the loader refuses a disconnected graph rather than label it).

Determinism: graph i of split s is drawn from its own numpy PCG64 stream seeded by (seed, task, s, i), so a
dataset is a pure function of `dataset.params` and never depends on generation order. The finished dataset is
cached under `<cache>/generated/` by the content hash of its parameters and this module's source, written
atomically, as plain tensors that `torch.load(weights_only=True)` reads.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from gbench.data.graphs import GraphTaskData
from gbench.data.staging import DataContext, cache_lock, cached_tensors
from gbench.errors import SpecError
from gbench.specs import TaskSpec, stable_hash

GENERATOR = "structure-v1"
TASKS = ("topology", "symmetry", "spectral_gap", "bridges")
SPLITS = ("train", "val", "test_id", "test_near_ood", "test_far_ood")

TOPOLOGY_CLASSES = ("cyclic", "geometric", "community", "hierarchical", "bottleneck", "multicore")
BRIDGE_FAMILIES = ("geometric", "community", "hierarchical", "bottleneck", "multicore")
SPECTRAL_FAMILIES = ("sbm_dumbbell", "sbm_multi", "geometric_evolution", "rewired")
SYMMETRIC_FAMILIES = ("cayley", "double_cover", "product", "base_product", "cyclic_cover")
ASYMMETRIC_FAMILIES = ("swapped", "asymmetric_product")

DEFAULTS: dict[str, Any] = {
    "task": None,
    "seed": 0,
    "splits": None,
    "bases": "synthetic",           # symmetry only: 'real' (MUTAG + Cora) or 'synthetic'
    "asymmetric_swap_share": 0.5,   # symmetry: share of asymmetric graphs made by double-edge swaps
    "swap_attempts": 20,            # symmetry: attempts to reach |Aut| = 1 by swaps before a new base is drawn
    "swap_fraction": 0.1,           # symmetry: swaps per attempt, as a fraction of the edges (at least 1)
    "cora_methods": ["bfs", "rwr", "sage"],
    "rwr_alpha": 0.2,
    "sage_fanout": 5,
}


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


def _labels(n: int, edges: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    adj = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n)) if len(edges) else \
        coo_matrix((n, n))
    return connected_components(adj, directed=False)[1]


def _connect(rng: np.random.Generator, n: int, edges: np.ndarray, nodes: np.ndarray | None = None) -> np.ndarray:
    """Join the components (of the subgraph on `nodes`, default all) with one random edge each, component c to a
    random node of components 0..c-1, so the result is connected."""
    nodes = np.arange(n) if nodes is None else np.asarray(nodes)
    local = {int(v): i for i, v in enumerate(nodes)}
    sub = [(local[int(u)], local[int(v)]) for u, v in edges if int(u) in local and int(v) in local]
    lab = _labels(len(nodes), np.asarray(sub, dtype=np.int64).reshape(-1, 2))
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


# ---------------------------------------------------------------------------------------------------------------
# Labels


def normalized_laplacian_lambda2(n: int, edges: np.ndarray) -> float:
    """Second-smallest eigenvalue of L = I - D^-1/2 A D^-1/2 (dense, numpy eigvalsh), float64."""
    a = np.zeros((n, n))
    a[edges[:, 0], edges[:, 1]] = 1.0
    a[edges[:, 1], edges[:, 0]] = 1.0
    deg = a.sum(1)
    inv = np.where(deg > 0, deg ** -0.5, 0.0)
    lap = np.eye(n) - inv[:, None] * a * inv[None, :]
    return float(np.linalg.eigvalsh(lap)[1])


def count_bridges(n: int, edges: np.ndarray) -> int:
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges.tolist())
    return sum(1 for _ in nx.bridges(g))


def automorphism_generators(n: int, edges: np.ndarray) -> int:
    """Number of automorphism-group generators pynauty returns: 0 iff |Aut(G)| = 1."""
    try:
        import pynauty
    except ImportError:
        from gbench.errors import GbenchError

        raise GbenchError("the symmetry tasks label graphs with pynauty, which is not installed; install it with "
                          "`pip install 'gbench[structure]'` (or `pip install pynauty`).") from None

    adj: dict[int, list[int]] = {v: [] for v in range(n)}
    for u, v in edges.tolist():
        adj[u].append(v)
    return len(pynauty.autgrp(pynauty.Graph(n, adjacency_dict=adj))[0])


def is_symmetric(n: int, edges: np.ndarray) -> bool:
    return automorphism_generators(n, edges) > 0


def is_connected(n: int, edges: np.ndarray) -> bool:
    return int(_labels(n, edges).max(initial=0)) == 0


# ---------------------------------------------------------------------------------------------------------------
# Symmetry (Appendix D.1.2)


def _cycle(k):
    return np.stack([np.arange(k), (np.arange(k) + 1) % k], 1) if k > 2 else np.array([[0, 1]])


def _path(k):
    return np.stack([np.arange(k - 1), np.arange(1, k)], 1)


def _star(leaves):
    return np.stack([np.zeros(leaves, dtype=np.int64), np.arange(1, leaves + 1)], 1)


def cartesian_product(n1: int, e1: np.ndarray, n2: int, e2: np.ndarray) -> tuple[int, np.ndarray]:
    """G1 box G2 on nodes (i, j) -> i * n2 + j."""
    parts = [np.stack([u * n2 + j, v * n2 + j], 1) for u, v in e1.tolist() for j in [np.arange(n2)]]
    parts += [np.stack([i * n2 + u, i * n2 + v], 1) for u, v in e2.tolist() for i in [np.arange(n1)]]
    n = n1 * n2
    return n, _canon(np.concatenate(parts), n)


class SymmetryGenerator:
    """Symmetric and asymmetric graphs of a size in [lo, hi]. `bases(rng, m)` gives a connected base graph of m
    nodes: a real one (MUTAG or a Cora subgraph) or a synthetic one (random, community or bottleneck)."""

    def __init__(self, params: dict[str, Any], real: RealBases | None) -> None:
        self.p = params
        self.real = real

    # -- bases
    def synthetic_base(self, rng, m: int) -> np.ndarray:
        kind = int(rng.integers(3))
        if kind == 0:
            return _connect(rng, m, _canon(_er(rng, np.arange(m), rng.uniform(0.15, 0.3)), m))
        if kind == 1 and m >= 4:
            k = 2 if m < 9 else int(rng.integers(2, 4))
            blocks = _partition(m, k)
            parts = [_er(rng, b, rng.uniform(0.3, 0.7)) for b in blocks]
            parts += [_between(rng, blocks[i], blocks[j], rng.uniform(0.05, 0.15))
                      for i in range(k) for j in range(i + 1, k)]
            return _connect(rng, m, _canon(np.concatenate(parts), m))
        if m >= 4:
            # bottleneck base: two halves with p ~ U[0.3, 0.6] joined by 1-3 edges
            blocks = _partition(m, 2)
            p = rng.uniform(0.3, 0.6)
            edges = np.zeros((0, 2), dtype=np.int64)
            for b in blocks:
                edges = _connect(rng, m, _canon(np.concatenate([edges, _er(rng, b, p)]), m), b)
            w = min(int(rng.integers(1, 4)), len(blocks[0]), len(blocks[1]))
            link = np.stack([rng.choice(blocks[0], w, replace=False), rng.choice(blocks[1], w, replace=False)], 1)
            return _canon(np.concatenate([edges, link]), m)
        return _path(m)

    def base(self, rng, m: int) -> np.ndarray:
        if self.real is not None:
            return self.real.sample(rng, m)
        return self.synthetic_base(rng, m)

    # -- symmetric constructions; each returns (n, edges) or None when it cannot hit [lo, hi]
    def cayley(self, rng, lo, hi):
        n = int(rng.integers(lo, hi + 1))
        cands = [g for g in range(1, n // 2 + 1) if math.gcd(g, n) == 1]
        gens = rng.choice(cands, min(len(cands), int(rng.integers(1, 4))), replace=False)
        i = np.arange(n)
        return n, _canon(np.concatenate([np.stack([i, (i + g) % n], 1) for g in gens]), n)

    def double_cover(self, rng, lo, hi):
        m = int(rng.integers(-(-lo // 2), hi // 2 + 1))
        b = self.base(rng, m)
        e = np.concatenate([np.stack([b[:, 0], b[:, 1] + m], 1), np.stack([b[:, 1], b[:, 0] + m], 1)])
        return 2 * m, _canon(e, 2 * m)

    def product(self, rng, lo, hi):
        kind = int(rng.integers(3))
        a = int(rng.integers(3, 9))
        if kind == 2:  # P_a box S_m, the star having m leaves (m + 1 nodes)
            m_lo, m_hi = max(2, -(-lo // a) - 1), hi // a - 1
            if m_lo > m_hi:
                return None
            m = int(rng.integers(m_lo, m_hi + 1))
            return cartesian_product(a, _path(a), m + 1, _star(m))
        b_lo, b_hi = max(3, -(-lo // a)), hi // a
        if b_lo > b_hi:
            return None
        b = int(rng.integers(b_lo, b_hi + 1))
        second = _path(b) if kind == 0 else _cycle(b)
        return cartesian_product(a, _cycle(a), b, second)

    def base_product(self, rng, lo, hi):
        k = int(rng.integers(2, 5))
        m_lo, m_hi = max(3, -(-lo // k)), hi // k
        if m_lo > m_hi:
            return None
        m = int(rng.integers(m_lo, m_hi + 1))
        second = _path(k) if rng.random() < 0.5 or k < 3 else _cycle(k)
        return cartesian_product(m, self.base(rng, m), k, second)

    def cyclic_cover(self, rng, lo, hi):
        """k-fold cyclic cover (k = 2-5): node (v, i) -> v * k + i, edge uv with voltage t links (u, i)-(v, i+t)."""
        k = int(rng.integers(2, 6))
        m_lo, m_hi = max(3, -(-lo // k)), hi // k
        if m_lo > m_hi:
            return None
        m = int(rng.integers(m_lo, m_hi + 1))
        b = self.base(rng, m)
        volt = rng.integers(0, k, len(b))
        i = np.arange(k)
        e = np.concatenate([np.stack([u * k + i, v * k + (i + t) % k], 1) for (u, v), t in zip(b.tolist(), volt)])
        return m * k, _canon(e, m * k)

    def symmetric(self, rng, lo, hi, family: str):
        for _ in range(200):
            out = getattr(self, family)(rng, lo, hi)
            if out is None:
                continue
            n, e = out
            if lo <= n <= hi and is_connected(n, e) and is_symmetric(n, e):
                return n, e
        raise RuntimeError(f"symmetry generator '{family}' found no graph with {lo}-{hi} nodes")

    # -- asymmetric constructions
    def swapped(self, rng, lo, hi):
        for _ in range(50):
            n, base = self.symmetric(rng, lo, hi, SYMMETRIC_FAMILIES[int(rng.integers(len(SYMMETRIC_FAMILIES)))])
            swaps = max(1, int(round(self.p["swap_fraction"] * len(base))))
            for _ in range(int(self.p["swap_attempts"])):
                e = _double_edge_swaps(rng, n, base, swaps)
                if is_connected(n, e) and not is_symmetric(n, e):
                    return n, e
        raise RuntimeError("double-edge swaps reached no asymmetric graph")

    def asymmetric_base(self, rng, m: int) -> np.ndarray | None:
        for _ in range(100):
            e = self.base(rng, m)
            if is_connected(m, e) and not is_symmetric(m, e):
                return e
        return None

    def asymmetric_product(self, rng, lo, hi):
        for _ in range(200):
            m1 = int(rng.integers(6, 11))
            m_lo, m_hi = max(6, -(-lo // m1)), hi // m1
            if m_lo > m_hi:
                continue
            m2 = int(rng.integers(m_lo, m_hi + 1))
            e1, e2 = self.asymmetric_base(rng, m1), self.asymmetric_base(rng, m2)
            if e1 is None or e2 is None:
                continue
            n, e = cartesian_product(m1, e1, m2, e2)
            if lo <= n <= hi and not is_symmetric(n, e):
                return n, e
        raise RuntimeError(f"no asymmetric product with {lo}-{hi} nodes")

    def draw(self, rng, lo: int, hi: int, index: int) -> tuple[int, np.ndarray, int, str]:
        """Graph `index` of a split: even indices symmetric (label 1), odd asymmetric (label 0)."""
        if index % 2 == 0:
            family = SYMMETRIC_FAMILIES[(index // 2) % len(SYMMETRIC_FAMILIES)]
            n, e = self.symmetric(rng, lo, hi, family)
            return n, e, 1, family
        family = "swapped" if rng.random() < self.p["asymmetric_swap_share"] else "asymmetric_product"
        n, e = getattr(self, family)(rng, lo, hi)
        return n, e, 0, family


class RealBases:
    """MUTAG molecules and Cora subgraphs as base graphs. A base of m nodes is a MUTAG graph of exactly m nodes
    (half the time, where MUTAG has one) or else a Cora subgraph of m nodes drawn on demand by BFS, random walk
    with restart (alpha) or GraphSAGE-style neighbour sampling (fanout per node), the method chosen uniformly."""

    def __init__(self, mutag: list[tuple[int, np.ndarray]], cora_adj: list[np.ndarray], params: dict[str, Any]):
        self.by_size: dict[int, list[np.ndarray]] = {}
        for n, e in mutag:
            self.by_size.setdefault(n, []).append(e)
        self.adj = cora_adj
        lab = _labels(len(cora_adj), np.array([(u, v) for u, nb in enumerate(cora_adj) for v in nb if u < v]))
        big = np.bincount(lab).argmax()
        self.starts = np.nonzero(lab == big)[0]  # the largest component, so every size up to ~2485 is reachable
        self.methods = list(params["cora_methods"])
        self.alpha = float(params["rwr_alpha"])
        self.fanout = int(params["sage_fanout"])

    def sample(self, rng, m: int) -> np.ndarray:
        if m in self.by_size and rng.random() < 0.5:
            graphs = self.by_size[m]
            return graphs[int(rng.integers(len(graphs)))]
        method = self.methods[int(rng.integers(len(self.methods)))]
        start = int(self.starts[int(rng.integers(len(self.starts)))])
        nodes = getattr(self, f"_{method}")(rng, start, m)
        return self._induced(nodes)

    def _bfs(self, rng, start, m):
        order, seen, frontier = [start], {start}, [start]
        while frontier and len(order) < m:
            nxt = []
            for u in frontier:
                for v in rng.permutation(self.adj[u]).tolist():
                    if v not in seen:
                        seen.add(v)
                        order.append(v)
                        nxt.append(v)
            frontier = nxt
        return order[:m]

    def _rwr(self, rng, start, m):
        order, seen, u = [start], {start}, start
        for _ in range(200 * m):
            if len(order) >= m:
                break
            u = start if rng.random() < self.alpha else int(rng.choice(self.adj[u]))
            if u not in seen:
                seen.add(u)
                order.append(u)
        return order if len(order) >= m else self._bfs(rng, start, m)

    def _sage(self, rng, start, m):
        order, seen, frontier = [start], {start}, [start]
        while frontier and len(order) < m:
            nxt = []
            for u in frontier:
                nb = self.adj[u]
                for v in rng.choice(nb, min(self.fanout, len(nb)), replace=False).tolist():
                    if v not in seen and len(order) < m:
                        seen.add(v)
                        order.append(v)
                        nxt.append(v)
            frontier = nxt
        return order if len(order) >= m else self._bfs(rng, start, m)

    def _induced(self, nodes: list[int]) -> np.ndarray:
        local = {v: i for i, v in enumerate(nodes)}
        e = [(local[u], local[v]) for u in nodes for v in self.adj[u].tolist() if v in local and local[u] < local[v]]
        return _canon(np.asarray(e), len(nodes))


def load_real_bases(ctx: DataContext, params: dict[str, Any]) -> RealBases:
    """MUTAG (TUDataset) and Cora (Planetoid) through the data root, staged into the cache like every dataset."""
    from torch_geometric.datasets import Planetoid, TUDataset

    from gbench.data.staging import staged_pyg_dataset

    with cache_lock(ctx.cache_dir / "datasets" / "TU"):
        mutag = staged_pyg_dataset(TUDataset, ctx, "TU", name="MUTAG")
    with cache_lock(ctx.cache_dir / "datasets" / "Planetoid"):
        cora = staged_pyg_dataset(Planetoid, ctx, "Planetoid", name="Cora")[0]
    graphs = []
    for g in mutag:
        n = int(g.num_nodes)
        e = _canon(g.edge_index.t().numpy(), n)
        if is_connected(n, e):
            graphs.append((n, e))
    ei = cora.edge_index.numpy()
    n = int(cora.num_nodes)
    order = np.lexsort((ei[1], ei[0]))
    src, dst = ei[0][order], ei[1][order]
    bounds = np.searchsorted(src, np.arange(n + 1))
    adj = [np.unique(dst[bounds[v]: bounds[v + 1]]) for v in range(n)]
    return RealBases(graphs, adj, params)


# ---------------------------------------------------------------------------------------------------------------
# The dataset


def structure_params(task: TaskSpec) -> dict[str, Any]:
    where = f"task '{task.id}': dataset.params"
    unknown = set(task.dataset.params) - set(DEFAULTS)
    if unknown:
        raise SpecError(f"{where} has unknown field(s) {sorted(unknown)} for source 'structure'; allowed: "
                        f"{', '.join(DEFAULTS)}.")
    p = {**DEFAULTS, **task.dataset.params}
    if p["task"] not in TASKS:
        raise SpecError(f"{where}.task must be one of {', '.join(TASKS)}, got {p['task']!r}.")
    if p["bases"] not in ("real", "synthetic"):
        raise SpecError(f"{where}.bases must be 'real' or 'synthetic', got {p['bases']!r}.")
    splits = p["splits"]
    if not isinstance(splits, dict) or set(splits) != set(SPLITS):
        raise SpecError(f"{where}.splits must map each of {', '.join(SPLITS)} to "
                        "{graphs: <count>, nodes: [<min>, <max>]}.")
    for name, s in splits.items():
        ok = isinstance(s, dict) and set(s) == {"graphs", "nodes"} and int(s["graphs"]) >= 1 and \
            len(s["nodes"]) == 2 and 6 <= int(s["nodes"][0]) <= int(s["nodes"][1])
        if not ok:
            raise SpecError(f"{where}.splits.{name} must be {{graphs: <count >= 1>, nodes: [<min >= 6>, <max>]}}, "
                            f"got {s!r}.")
    bad = [s for s in task.split.test_splits if s not in SPLITS or s in ("train", "val")]
    if bad:
        raise SpecError(f"task '{task.id}': split.test_splits has {bad}; allowed: test_id, test_near_ood, "
                        "test_far_ood.")
    return p


def _module_hash() -> str:
    with open(__file__, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def generate(params: dict[str, Any], real: RealBases | None = None) -> dict[str, Any]:
    """The whole dataset as plain tensors: edge_index [2, sum of 2m_i] (both directions, graph-local ids, sorted),
    edge_ptr [G+1] (column offsets), num_nodes [G], y [G] (int64 class ids, or float32 for regression),
    family [G] (index into `families`), split [G] (index into SPLITS), and `meta` (JSON text)."""
    task = params["task"]
    code = TASKS.index(task)
    sym = SymmetryGenerator(params, real) if task == "symmetry" else None
    families = {"topology": TOPOLOGY_CLASSES, "bridges": BRIDGE_FAMILIES, "spectral_gap": SPECTRAL_FAMILIES,
                "symmetry": SYMMETRIC_FAMILIES + ASYMMETRIC_FAMILIES}[task]
    edge_parts, ptr, sizes, ys, fams, split_of = [], [0], [], [], [], []
    for s_idx, name in enumerate(SPLITS):
        spec = params["splits"][name]
        lo, hi = int(spec["nodes"][0]), int(spec["nodes"][1])
        for i in range(int(spec["graphs"])):
            rng = np.random.default_rng([int(params["seed"]), code, s_idx, i])
            if task == "symmetry":
                n, e, label, family = sym.draw(rng, lo, hi, i)
            else:
                n = int(rng.integers(lo, hi + 1))
                names = {"topology": TOPOLOGY_CLASSES, "bridges": BRIDGE_FAMILIES,
                         "spectral_gap": SPECTRAL_FAMILIES}[task]
                family = names[i % len(names)]
                gens = {"topology": TOPOLOGY_GENERATORS, "bridges": BRIDGE_GENERATORS,
                        "spectral_gap": SPECTRAL_GENERATORS}[task]
                e = gens[family](rng, n)
                label = {"topology": lambda: TOPOLOGY_CLASSES.index(family),
                         "bridges": lambda: count_bridges(n, e),
                         "spectral_gap": lambda: normalized_laplacian_lambda2(n, e)}[task]()
            if not is_connected(n, e):
                raise RuntimeError(f"generator '{family}' produced a disconnected graph ({name} #{i})")
            both = np.concatenate([e, e[:, ::-1]])
            both = both[np.lexsort((both[:, 1], both[:, 0]))]
            edge_parts.append(both.T)
            ptr.append(ptr[-1] + both.shape[0])
            sizes.append(n)
            ys.append(label)
            fams.append(families.index(family))
            split_of.append(s_idx)
    y = torch.tensor(ys, dtype=torch.float32 if task in ("spectral_gap", "bridges") else torch.int64)
    meta = {"generator": GENERATOR, "task": task, "families": list(families), "splits": list(SPLITS)}
    return {"edge_index": torch.from_numpy(np.ascontiguousarray(np.concatenate(edge_parts, 1), dtype=np.int64)),
            "edge_ptr": torch.tensor(ptr, dtype=torch.int64), "num_nodes": torch.tensor(sizes, dtype=torch.int64),
            "y": y, "family": torch.tensor(fams, dtype=torch.int64),
            "split": torch.tensor(split_of, dtype=torch.int64), "meta": json.dumps(meta, sort_keys=True)}


def content_key(params: dict[str, Any]) -> str:
    return stable_hash({"generator": GENERATOR, "code": _module_hash(), **params})[:20]


def cache_path(params: dict[str, Any], ctx: DataContext):
    return ctx.cache_dir / "generated" / f"structure-{params['task']}-{content_key(params)}.pt"


def load_or_generate(params: dict[str, Any], ctx: DataContext) -> dict[str, Any]:
    def build() -> dict[str, Any]:
        real = load_real_bases(ctx, params) if params["task"] == "symmetry" and params["bases"] == "real" else None
        return generate(params, real)

    return cached_tensors(cache_path(params, ctx), build)


def to_task_data(blob: dict[str, Any], key: str) -> GraphTaskData:
    from torch_geometric.data import Data

    meta = json.loads(blob["meta"])
    ptr, ei = blob["edge_ptr"], blob["edge_index"]
    graphs = [Data(edge_index=ei[:, int(ptr[i]): int(ptr[i + 1])].clone(), num_nodes=int(n))
              for i, n in enumerate(blob["num_nodes"].tolist())]
    split = {name: (blob["split"] == i).nonzero().view(-1) for i, name in enumerate(meta["splits"])}
    task = meta["task"]
    num_classes = {"topology": len(TOPOLOGY_CLASSES), "symmetry": 2}.get(task, 0)
    fam = blob["family"]
    info = {"generator": meta["generator"], "content_hash": key, "families": meta["families"],
            "family_counts": {f: int((fam == i).sum()) for i, f in enumerate(meta["families"])},
            "split_sizes": {k: int(v.numel()) for k, v in split.items()}}
    return GraphTaskData(graphs=graphs, y=blob["y"], splits=[split], num_classes=num_classes, info=info)


def load_structure(task: TaskSpec, ctx: DataContext) -> GraphTaskData:
    """The `structure` data source: one fixed dataset per task spec (the job seed does not regenerate it)."""
    if task.level != "graph":
        raise SpecError(f"task '{task.id}': source 'structure' makes graph-level tasks; set level: graph.")
    if task.split.kind != "scale":
        raise SpecError(f"task '{task.id}': split.kind must be 'scale' for source 'structure'.")
    p = structure_params(task)
    # Symmetry is a 2-class softmax (the paper trains it with cross-entropy, as topology).
    want = {"topology": "multiclass", "symmetry": "multiclass", "spectral_gap": "regression",
            "bridges": "regression"}
    if task.target != want[p["task"]]:
        raise SpecError(f"task '{task.id}': target must be '{want[p['task']]}' for structure task '{p['task']}'.")
    return to_task_data(load_or_generate(p, ctx), content_key(p))
