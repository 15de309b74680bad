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
cached under `<cache>/generated/` by the content hash of its parameters and this package's source, written
atomically, as plain tensors that `torch.load(weights_only=True)` reads.

The package's seams: `generators` (the topology, bridge and spectral families), `labels` (what is measured on a
graph), `symmetry` (symmetric and asymmetric constructions and their real or generated base graphs) and `dataset`
(parameters, generation of a whole dataset, the cache, the `structure` data source).
"""

from gbench.data.structure.dataset import (
    DEFAULTS,
    GENERATOR,
    SPLITS,
    TASKS,
    cache_path,
    content_key,
    generate,
    load_or_generate,
    load_structure,
    structure_params,
    to_task_data,
)
from gbench.data.structure.generators import (
    ASYMMETRIC_FAMILIES,
    BRIDGE_FAMILIES,
    BRIDGE_GENERATORS,
    SPECTRAL_FAMILIES,
    SPECTRAL_GENERATORS,
    SYMMETRIC_FAMILIES,
    TOPOLOGY_CLASSES,
    TOPOLOGY_GENERATORS,
)
from gbench.data.structure.labels import (
    automorphism_generators,
    component_labels,
    count_bridges,
    is_connected,
    is_symmetric,
    normalized_laplacian_lambda2,
)
from gbench.data.structure.symmetry import RealBases, SymmetryGenerator, cartesian_product, load_real_bases

__all__ = [
    "ASYMMETRIC_FAMILIES", "BRIDGE_FAMILIES", "BRIDGE_GENERATORS", "DEFAULTS", "GENERATOR", "SPECTRAL_FAMILIES",
    "SPECTRAL_GENERATORS", "SPLITS", "SYMMETRIC_FAMILIES", "TASKS", "TOPOLOGY_CLASSES", "TOPOLOGY_GENERATORS",
    "RealBases", "SymmetryGenerator", "automorphism_generators", "cache_path", "cartesian_product",
    "component_labels", "content_key", "count_bridges", "generate", "is_connected", "is_symmetric",
    "load_or_generate", "load_real_bases", "load_structure", "normalized_laplacian_lambda2", "structure_params",
    "to_task_data",
]
