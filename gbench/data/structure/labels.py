"""Labels and checks of generated graphs: connected components, lambda_2 of the normalized Laplacian, the number
of bridges, and whether the automorphism group is larger than the identity (pynauty). Graphs as in generators.py:
(n, edges [m, 2] int64, u < v)."""

from __future__ import annotations

import numpy as np


def component_labels(n: int, edges: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    adj = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n)) if len(edges) else \
        coo_matrix((n, n))
    return connected_components(adj, directed=False)[1]


def normalized_laplacian_lambda2(n: int, edges: np.ndarray) -> float:
    """Second-smallest eigenvalue of L = I - D^-1/2 A D^-1/2 (dense, numpy eigvalsh), float64; L is the one the
    eigenvector transforms use (gbench.data.transforms.normalized_laplacian)."""
    import torch

    from gbench.data.transforms import normalized_laplacian

    return float(np.linalg.eigvalsh(normalized_laplacian(torch.from_numpy(edges.T.copy()), n))[1])


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
    return int(component_labels(n, edges).max(initial=0)) == 0
