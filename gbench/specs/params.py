"""The table of truth for every free-form `params` block of a spec: one pydantic model per data source, split
kind (per level where the levels differ), level protocol and input transform.

A spec keeps its `params` as the plain mapping it was written as (the data code reads it so, and the job identity
is taken over it); these models only decide, when the spec loads, whether that mapping is allowed. They are strict:
a string where a number belongs is refused rather than coerced, so the data code never meets a type it did not
expect. Defaults stated here are the ones the data and training code apply when a key is left out.

A field marked `identity=False` (see `neutral`) is a setting that does not change any number (a worker count, a
device for evaluation, a batch size of evaluation without gradients); the job identity leaves it out.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Hyperparameters of a model that change how fast it runs but not what it computes; left out of the job identity.
# `cached`: PyG's GCNConv(cached=True) reuses the normalised adjacency of the one graph it has seen.
NEUTRAL_HPARAMS: frozenset[str] = frozenset({"cached"})


class Params(BaseModel):
    """Base of every params model: unknown keys are refused, values are not coerced between types."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def neutral(default: Any, description: str, **kwargs: Any) -> Any:
    """A field that does not change numbers: documented, validated, and left out of the job identity."""
    return Field(default=default, description=f"{description} (does not change numbers: not part of the job id)",
                 json_schema_extra={"identity": False}, **kwargs)


class NoParams(Params):
    """This source, split kind or level takes no parameters."""


# ---------------------------------------------------------------------------------------------------------------
# Data sources (`dataset.params`), keyed as in `gbench.data.SOURCES`


class GraphPrepParams(Params):
    """One PyG or OGB graph, prepared as its paper's code does."""

    to_undirected: bool = Field(default=False, description="add the reverse of every edge (true by default for "
                                "heterophilous-npz)")
    normalize_features: bool = Field(default=False, description="row-normalise node features (PyG NormalizeFeatures)")


class PygNodeParams(GraphPrepParams):
    """Any PyG node dataset class named by `dataset.name`."""

    root: str | None = Field(default=None, description="folder under the data root (default: the class name)")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the dataset class")


class SBMParams(Params):
    """A degree-corrected stochastic block model graph with class-dependent Gaussian features (gbench.data.synthetic)."""

    num_nodes: int = Field(default=2000, ge=2, description="nodes of the graph")
    num_classes: int = Field(default=4, ge=1, description="blocks, one class each")
    avg_degree: float = Field(default=8.0, gt=0, description="mean degree (edges are drawn, then deduplicated)")
    homophily: float = Field(default=0.7, ge=0, le=1, description="share of edges inside a class")
    degree_exponent: float | None = Field(default=2.5, gt=1, description="Pareto exponent of the degree weights; "
                                          "null: equal weights")
    feature_dim: int = Field(default=32, ge=1, description="node feature width")
    feature_signal: float = Field(default=0.3, ge=0, description="scale of the class centres against unit noise")
    seed: int = Field(default=0, description="numpy PCG64 seed of the graph")


class MotifParams(Params):
    """Coloured Erdős-Rényi graphs labelled by a colour-pair edge share (gbench.data.synthetic_graphs)."""

    num_graphs: int = Field(default=400, ge=2, description="graphs generated")
    min_nodes: int = Field(default=8, ge=2, description="fewest nodes of a graph")
    max_nodes: int = Field(default=20, ge=2, description="most nodes of a graph")
    avg_degree: float = Field(default=3.0, gt=0, description="mean degree of the Erdős-Rényi graphs")
    colours: int = Field(default=3, ge=2, description="node colours (one-hot features)")
    seed: int = Field(default=0, description="numpy PCG64 seed of the dataset")

    @model_validator(mode="after")
    def _range(self) -> MotifParams:
        if self.min_nodes > self.max_nodes:
            raise ValueError("min_nodes must not exceed max_nodes")
        return self


class TUParams(Params):
    """A TU dataset (Morris et al.) prepared as Errica et al. (ICLR 2020)."""

    node_features: Literal["labels", "labels+attributes", "degree", "one"] = Field(
        default="labels", description="one-hot node labels, labels and continuous attributes, the degree, or a constant")
    drop_trivial: bool = Field(default=False, description="drop graphs with one node or no edge before the folds")


class OGBGraphParams(Params):
    fallback_csv: bool = Field(default=False, description="ogbg-molhiv offline without OGB's files: rebuild it from "
                               "the data root's MoleculeNet HIV.csv")


class LRGBParams(Params):
    """LRGB's Peptides-func files, pinned by content: the split pickle is unpickled only when its sha256 matches."""

    csv_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of raw/peptide_multi_class_dataset.csv.gz")
    split_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of "
                              "splits_random_stratified_peptide.pickle; any other file is refused unopened")


class ScaleSplitSize(Params):
    graphs: int = Field(ge=1, description="number of graphs")
    nodes: list[int] = Field(min_length=2, max_length=2, description="[min, max] nodes per graph, min >= 6")

    @model_validator(mode="after")
    def _range(self) -> ScaleSplitSize:
        if not 6 <= self.nodes[0] <= self.nodes[1]:
            raise ValueError("nodes must be [min, max] with 6 <= min <= max")
        return self


class StructureSplits(Params):
    """The five splits of a structural-abstraction task; the node ranges grow from in- to far-out-of-distribution."""

    train: ScaleSplitSize = Field(description="training graphs")
    val: ScaleSplitSize = Field(description="validation graphs (selection)")
    test_id: ScaleSplitSize = Field(description="test graphs of the training sizes")
    test_near_ood: ScaleSplitSize = Field(description="test graphs somewhat larger")
    test_far_ood: ScaleSplitSize = Field(description="test graphs much larger")


class StructureParams(Params):
    """A GraphAbstract task (Zhao et al., NeurIPS 2025) generated by gbench.data.structure."""

    task: Literal["topology", "symmetry", "spectral_gap", "bridges"] | None = Field(
        default=None, description="which property is labelled; derived from dataset.name, so leave it out")
    seed: int = Field(default=0, description="seed of every graph's own numpy stream")
    splits: StructureSplits = Field(description="graph counts and node ranges per split")
    bases: Literal["real", "synthetic"] = Field(default="synthetic", description="symmetry: base graphs from MUTAG "
                                                "and Cora in the data root, or generated")
    asymmetric_swap_share: float = Field(default=0.5, ge=0, le=1, description="symmetry: share of asymmetric "
                                         "graphs made by double-edge swaps")
    swap_attempts: int = Field(default=20, ge=1, description="symmetry: swap attempts before a new base is drawn")
    swap_fraction: float = Field(default=0.1, gt=0, le=1, description="symmetry: swaps per attempt, as a fraction "
                                 "of the edges")
    cora_methods: list[Literal["bfs", "rwr", "sage"]] = Field(default_factory=lambda: ["bfs", "rwr", "sage"],
                                                               description="symmetry (real bases): Cora samplers")
    rwr_alpha: float = Field(default=0.2, gt=0, lt=1, description="restart probability of the random walk sampler")
    sage_fanout: int = Field(default=5, ge=1, description="neighbours per node of the GraphSAGE-style sampler")


SOURCE_PARAMS: dict[str, type[Params]] = {
    "planetoid": GraphPrepParams,
    "webkb": GraphPrepParams,
    "heterophilous": GraphPrepParams,
    "heterophilous-npz": GraphPrepParams,
    "pyg-node": PygNodeParams,
    "ogb-node": GraphPrepParams,
    "sbm": SBMParams,
    "structure": StructureParams,
    "ogb-link": NoParams,
    "planetoid-link": NoParams,
    "sbm-link": SBMParams,
    "tu": TUParams,
    "csl": NoParams,
    "ogb-graph": OGBGraphParams,
    "molhiv-csv": NoParams,
    "lrgb": LRGBParams,
    "graph-motifs": MotifParams,
}

# The source's own name for its official split, used in the job identity (PyG's Planetoid calls it "public").
OFFICIAL_SPLIT_NAME: dict[str, str] = {"planetoid": "public"}


class FreeParams(Params):
    """A plug-in's parameters without a declared model: any keys, checked by the plug-in's own code."""

    model_config = ConfigDict(extra="allow", frozen=True)


def register_source_params(source: str, model: type[Params] | None = None) -> None:
    """Declare a data source added at run time (and, optionally, its params model) so that specs naming it load."""
    SOURCE_PARAMS[source] = model or FreeParams


def plugin_params(table: dict[str, type[Params]], group: str, name: str) -> type[Params] | None:
    """The params model of `name` in `table`; for a name a installed package declares in the entry-point `group`
    (e.g. gbench.sources), FreeParams; else None."""
    if name in table:
        return table[name]
    from gbench import plugins

    return FreeParams if any(ep.name == name for ep in plugins.entry_points(group)) else None


# ---------------------------------------------------------------------------------------------------------------
# Split kinds (`split.params`), per level where the levels differ


class RandomSplitParams(Params):
    """Seeded random node (or graph) splits; seed s of a job uses split s mod num_splits."""

    train: float = Field(gt=0, lt=1, description="fraction of the nodes (graphs) for training")
    val: float = Field(gt=0, lt=1, description="fraction for validation; the rest is the test set")
    num_splits: int | None = Field(default=None, ge=1, description="number of splits (default 10 for nodes, "
                                   "1 for graphs)")
    seed: int = Field(default=0, description="seed of the first split")


class RandomEdgeSplitParams(Params):
    """A seeded random split of the edges into train / val / test, with sampled negatives for val and test."""

    val: float = Field(gt=0, lt=1, description="fraction of the edges for validation")
    test: float = Field(gt=0, lt=1, description="fraction of the edges for testing")
    seed: int = Field(default=0, description="seed of the edge split and its negatives")
    num_splits: int = Field(default=1, ge=1, description="number of splits: job seed s uses the split drawn from "
                            "seed + (s mod num_splits) (NCN's code draws a new split per run: 10)")
    neg_ratio: float = Field(default=1.0, gt=0, description="negatives per positive for val and test")
    val_neg_ratio: float | None = Field(default=None, gt=0, description="negatives per positive for val, where it "
                                        "differs from neg_ratio (NCN's code: 2)")


class OfficialLinkSplitParams(Params):
    use_valedges_as_input: bool = Field(default=False, description="ogbl-collab: validation edges join the graph "
                                        "seen at test time (the OGB rule)")


class KFoldParams(Params):
    """Stratified k-fold outer splits with an inner hold-out for selection (gbench.data.folds)."""

    folds: int = Field(default=10, ge=2, description="outer folds")
    seed: int = Field(default=0, description="StratifiedKFold random_state; fold k's hold-out uses seed + k")
    val_fraction: float = Field(default=0.1, gt=0, lt=1, description="hold-out of each training part")
    stratify: bool | None = Field(default=None, description="stratify by class (default: true for classification)")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="fingerprint of the folds "
                               "(gbench.data.folds.fold_fingerprint); a catalog task pins it")


Levels = dict[str, type[Params]]
_ALL = ("node", "link", "graph")

SPLIT_PARAMS: dict[str, Levels] = {
    "official": {"node": NoParams, "graph": NoParams, "link": OfficialLinkSplitParams},
    "random": {"node": RandomSplitParams, "graph": RandomSplitParams, "link": RandomEdgeSplitParams},
    "generated": dict.fromkeys(_ALL, FreeParams),  # the generator's own split: its source reads the params
    "kfold": dict.fromkeys(_ALL, KFoldParams),
    "scale": dict.fromkeys(_ALL, NoParams),
}


# ---------------------------------------------------------------------------------------------------------------
# Level protocols (`protocol.params`)


class NeighborSamplerParams(Params):
    """GraphSAGE-style neighbour sampling for training (PyG NeighborLoader); evaluation is full-graph."""

    num_neighbors: list[int] = Field(min_length=1, description="neighbours sampled per layer, -1 for all")
    eval_device: str | None = neutral(None, "device of the full-graph evaluation (default: the job's device)")
    num_workers: int = neutral(0, "loader worker processes", ge=0)


class NodeProtocolParams(Params):
    sampler: NeighborSamplerParams | None = Field(default=None, description="none: full-batch training")


class NegativesParams(Params):
    method: Literal["sparse", "dense"] = Field(default="sparse", description="PyG negative_sampling's method")
    ratio: float = Field(default=1, gt=0, description="training negatives per positive edge")


class LinkProtocolParams(Params):
    negatives: NegativesParams = Field(default_factory=NegativesParams, description="training negatives")
    eval_batch_size: int = neutral(65536, "pairs scored per batch at evaluation", ge=1)


PROTOCOL_PARAMS: dict[str, type[Params]] = {"node": NodeProtocolParams, "link": LinkProtocolParams,
                                            "graph": NoParams}


# ---------------------------------------------------------------------------------------------------------------
# Input transforms (`transforms: [name:arg:arg]`): the words after the name fill the fields in order


BASIS = ("lapack: the eigenvectors numpy's eigh returns, whose basis inside a repeated eigenvalue's eigenspace "
         "depends on the machine's BLAS kernel; canonical: a basis that depends on the eigenspaces alone, the same on "
         "every kernel (gbench.data.transforms.canonical_eigvecs)")


class LapPEParams(Params):
    """Laplacian eigenvector positional encodings (Dwivedi et al.): attribute `lap_pe` [n, k]."""

    k: int = Field(default=16, ge=1, description="eigenvectors kept")
    basis: Literal["lapack", "canonical"] = Field(default="lapack", description=BASIS)


class EigParams(Params):
    """The k smallest Laplacian eigenpairs, for SignNet / SPE / GraphGPS's LapPE: `eig_vals` [1, k], `eig_vecs`
    [n, k]."""

    k: int = Field(default=16, ge=1, description="eigenpairs kept")
    laplacian: Literal["sym", "comb"] = Field(default="sym", description="sym: I - D^-1/2 A D^-1/2; comb: D - A")
    basis: Literal["lapack", "canonical"] = Field(default="lapack", description=BASIS)


class RWPEParams(Params):
    """Random-walk return probabilities after 1..k steps: attribute `rw_pe` [n, k]."""

    k: int = Field(default=16, ge=1, description="walk lengths")


class DegreeOnehotParams(Params):
    """x := one-hot node degree, clipped at `max`."""

    max: int = Field(default=100, ge=1, description="largest degree with its own column")


class RenderParams(Params):
    """graph.image := uint8 [1, 3, size, size], a drawing of the graph."""

    layout: Literal["kk", "spectral", "fa2", "circular"] = Field(description="graph layout")
    size: int = Field(default=64, ge=16, le=1024, description="image side in pixels")
    seed: int = Field(default=0, description="layout seed")
    backend: Literal["nx", "igraph", "fa2-modified"] = Field(
        default="nx", description="layout library: nx (networkx, the reference), igraph (kk), fa2-modified (fa2)")


TRANSFORM_PARAMS: dict[str, type[Params]] = {"lap_pe": LapPEParams, "eig": EigParams, "rw_pe": RWPEParams,
                                             "degree_onehot": DegreeOnehotParams, "render": RenderParams}


def transform_fields(spec: str) -> tuple[str, dict[str, Any]]:
    """`lap_pe:16` -> ('lap_pe', {'k': 16}); words are read as integers where they are digits."""
    name, *words = spec.split(":")
    model = TRANSFORM_PARAMS.get(name)
    fields = list(model.model_fields) if model else []
    if len(words) > len(fields):
        raise ValueError(f"transform '{name}' takes at most {len(fields)} argument(s) "
                         f"({', '.join(fields) or 'none'}), got {len(words)}")
    values = {f: int(w) if w.lstrip("-").isdigit() else w for f, w in zip(fields, words)}
    return name, values


def identity_excluded(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths (below `prefix`) of the fields of `model` and its sub-models that are not part of the job identity."""
    out: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra
        if isinstance(extra, dict) and extra.get("identity") is False:
            out.append((*prefix, name))
            continue
        for sub in _sub_models(field.annotation):
            out.extend(identity_excluded(sub, (*prefix, name)))
    return out


def _sub_models(annotation: Any) -> list[type[BaseModel]]:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _sub_models(arg)]
