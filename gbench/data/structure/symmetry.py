"""The symmetry task's graphs (Appendix D.1.2): symmetric constructions (Cayley graphs, bipartite double covers,
Cartesian products, cyclic covers) and asymmetric ones (double-edge swaps of symmetric graphs, products of
asymmetric graphs), built on base graphs that are real (MUTAG molecules, Cora subgraphs) or generated."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gbench.data.staging import DataContext, cache_lock
from gbench.data.structure.generators import (
    SYMMETRIC_FAMILIES,
    _between,
    _canon,
    _connect,
    _double_edge_swaps,
    _er,
    _partition,
)
from gbench.data.structure.labels import component_labels, is_connected, is_symmetric


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
        lab = component_labels(len(cora_adj), np.array([(u, v) for u, nb in enumerate(cora_adj) for v in nb if u < v]))
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
