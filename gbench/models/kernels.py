"""Graph kernels as fit/predict baselines: the Weisfeiler-Lehman subtree kernel with a support vector machine.

Shervashidze et al. (JMLR 2011): every node starts from a label (here: its feature row, so one-hot atom types or
a degree value), and each of `iterations` rounds relabels a node by its label and the sorted multiset of its
neighbours' labels. A graph's feature vector counts every label of every round (round 0 included); the kernel is
the inner product of these count vectors, optionally normalised to k(a, b) / sqrt(k(a, a) k(b, b)). The SVM is
scikit-learn's SVC on the precomputed kernel.

Labels are compressed with a dictionary shared by training and prediction graphs; labels first seen at prediction
time match nothing in training, so they add nothing to a kernel value against a training graph. Only discrete
feature columns (integer-valued on every training graph: one-hot labels, degrees) make the initial labels;
continuous attributes (ENZYMES' 18) would make every node's label unique and the kernel degenerate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np


def _features(graph) -> np.ndarray | None:
    x = getattr(graph, "x", None)
    if x is None:
        return None
    return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)


class WLSubtreeFeatures:
    """Sparse WL count vectors. `transform(graphs)` -> scipy CSR matrix [num_graphs, num_labels_seen_so_far]."""

    def __init__(self, iterations: int) -> None:
        if iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {iterations}")
        self.iterations = iterations
        self.vocab: dict[tuple, int] = {}
        self.columns: np.ndarray | None = None  # the discrete feature columns, fixed on the training graphs

    def fit_columns(self, graphs: Sequence) -> None:
        xs = [_features(g) for g in graphs]
        xs = [x for x in xs if x is not None and x.size]
        if not xs:
            self.columns = None
            return
        stacked = np.concatenate(xs)
        self.columns = np.flatnonzero(np.all(stacked == np.round(stacked), axis=0))

    def _index(self, key: tuple) -> int:
        if key not in self.vocab:
            self.vocab[key] = len(self.vocab)
        return self.vocab[key]

    def graph_counts(self, graph) -> Counter:
        n = int(graph.num_nodes)
        x = _features(graph)
        if x is None or self.columns is None or not self.columns.size:
            labels = [self._index((0, "const"))] * n
        else:
            rows = x.reshape(n, -1)[:, self.columns]
            labels = [self._index((0, tuple(r.tolist()))) for r in rows]
        neighbours: list[list[int]] = [[] for _ in range(n)]
        ei = graph.edge_index.cpu().numpy() if graph.edge_index is not None else np.zeros((2, 0), dtype=np.int64)
        for u, v in zip(ei[0].tolist(), ei[1].tolist()):
            neighbours[v].append(u)  # messages flow source -> target, as in PyG
        counts = Counter(labels)
        for it in range(1, self.iterations + 1):
            labels = [self._index((it, labels[v], tuple(sorted(labels[u] for u in neighbours[v]))))
                      for v in range(n)]
            counts.update(labels)
        return counts

    def transform(self, graphs: Sequence) -> Any:
        from scipy.sparse import csr_matrix

        data, cols, ptr = [], [], [0]
        for g in graphs:
            c = self.graph_counts(g)
            cols.extend(c.keys())
            data.extend(c.values())
            ptr.append(len(cols))
        return csr_matrix((np.asarray(data, dtype=np.float64), np.asarray(cols, dtype=np.int64), np.asarray(ptr)),
                          shape=(len(graphs), len(self.vocab)))


def wl_kernel(a, b, normalize: bool, diag_a: np.ndarray | None = None, diag_b: np.ndarray | None = None):
    """Kernel matrix [len(a), len(b)] between two count matrices (same column space)."""
    k = np.asarray((a @ b.T).todense(), dtype=np.float64)
    if normalize:
        da = np.asarray(a.multiply(a).sum(1)).ravel() if diag_a is None else diag_a
        db = np.asarray(b.multiply(b).sum(1)).ravel() if diag_b is None else diag_b
        k = k / np.sqrt(np.outer(np.maximum(da, 1e-12), np.maximum(db, 1e-12)))
    return k


class WLSubtreeSVM:
    """fit(graphs, y) / predict(graphs) -> decision scores ([n] for two classes, [n, C] one-vs-rest otherwise).

    With a list of C values, C is chosen by stratified 3-fold cross-validation on the training graphs."""

    def __init__(self, iterations: int = 3, C: float | list[float] = 1.0, normalize: bool = True,
                 target: str = "multiclass") -> None:
        if target not in ("multiclass", "binary"):
            raise ValueError(f"the WL kernel SVM classifies; target '{target}' is not supported")
        self.iterations, self.C, self.normalize = iterations, C, normalize
        self.features = WLSubtreeFeatures(iterations)

    def _pad(self, m, width: int):
        m = m.tocsr()
        m.resize((m.shape[0], width))
        return m

    def fit(self, graphs: Sequence, y) -> WLSubtreeSVM:
        from sklearn.model_selection import GridSearchCV, StratifiedKFold
        from sklearn.svm import SVC

        y = np.asarray(y.cpu().numpy() if hasattr(y, "cpu") else y).reshape(-1).astype(np.int64)
        self.features.fit_columns(graphs)
        self.train_counts = self.features.transform(graphs)
        k = wl_kernel(self.train_counts, self.train_counts, self.normalize)
        grid = self.C if isinstance(self.C, (list, tuple)) else [self.C]
        svc = SVC(kernel="precomputed", decision_function_shape="ovr")
        if len(grid) > 1:
            search = GridSearchCV(svc, {"C": list(grid)}, cv=StratifiedKFold(3, shuffle=True, random_state=0))
            search.fit(k, y)
            self.svm, self.chosen_C = search.best_estimator_, float(search.best_params_["C"])
        else:
            self.svm, self.chosen_C = svc.set_params(C=float(grid[0])).fit(k, y), float(grid[0])
        self.classes_ = self.svm.classes_
        return self

    def predict(self, graphs: Sequence) -> np.ndarray:
        counts = self.features.transform(graphs)
        width = counts.shape[1]
        train = self._pad(self.train_counts, width)
        k = wl_kernel(counts, train, self.normalize)
        scores = self.svm.decision_function(k)
        if scores.ndim == 2 and len(self.classes_) != int(self.classes_.max()) + 1:
            raise ValueError("a class is missing from the training graphs; the scores' columns would not line up")
        return scores


def wl_subtree_svm(info, iterations: int = 3, C: float | list[float] = 1.0, normalize: bool = True) -> WLSubtreeSVM:
    """Factory: the WL subtree kernel SVM for graph classification tasks."""
    return WLSubtreeSVM(iterations=iterations, C=C, normalize=normalize, target=info.target)
