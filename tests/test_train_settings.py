"""Every level's gradient-training path honours every train setting: `train.grad_clip`, `train.lr_schedule`,
`train.patience` and the task's `eval_every`.

One `gbench run` per level path (node full-batch, node mini-batch, graph, link) on a tiny generated task, with all
four settings on. What the optimizer is handed is watched through torch's global optimizer step hook (the
learning rate and the gradient norm at every step); which epochs are trained and evaluated is watched by wrapping
the two functions the driver hands to `gbench.train.loop.fit`. The assertions are on what was observed, so a level
that trained by a path of its own (skipping the clipping, the schedule or the cadence) fails here.

The node mini-batch path trains with torch_geometric's NeighborLoader, which needs pyg-lib or torch-sparse. Where
neither is installed, it runs here with `WholeGraphLoader` standing in for NeighborLoader: the same constructor
and batches of the same form (seed nodes first, `n_id`, `batch_size`), each holding the whole graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
import yaml

from gbench.results import ResultStore, read_record

CATALOG = Path(__file__).resolve().parents[1] / "tasks"
EPOCHS, PATIENCE, EVAL_EVERY, CLIP = 40, 2, 3, 1e-3
STEP_SIZE, GAMMA = 2, 0.1  # the rate falls so fast that training stalls and patience must stop it
SETTINGS = [f"train.epochs={EPOCHS}", f"train.patience={PATIENCE}", f"train.grad_clip={CLIP}",
            f"train.lr_schedule={{name: step, step_size: {STEP_SIZE}, gamma: {GAMMA}}}"]

# level path -> (catalog task, model, protocol changes)
LEVELS = {
    "node": ("node/sbm-node.yaml", "gcn", {}),
    "node-minibatch": ("node/sbm-node.yaml", "gcn",
                       {"batch_size": 64, "params": {"sampler": {"num_neighbors": [5, 5]}}}),
    "graph": ("graph/colour-motifs.yaml", "gin", {}),
    "link": ("link/sbm-link.yaml", "gcn", {}),
}


class WholeGraphLoader:
    """NeighborLoader's constructor and batch form, without sampling: a batch is the whole graph with that batch's
    seed nodes renumbered first; `n_id` maps batch node -> graph node; seeds are shuffled by `generator`."""

    def __init__(self, data, input_nodes, num_neighbors, batch_size, shuffle, generator, num_workers=0):
        self.data, self.seeds, self.batch_size, self.generator = data, input_nodes, batch_size, generator

    def __iter__(self):
        from gbench.models.contract import ModelInputs

        n = int(self.data.num_nodes)
        seeds = self.seeds[torch.randperm(self.seeds.numel(), generator=self.generator)]
        for start in range(0, seeds.numel(), self.batch_size):
            first = seeds[start: start + self.batch_size]
            rest = torch.ones(n, dtype=torch.bool)
            rest[first] = False
            n_id = torch.cat([first, rest.nonzero().view(-1)])
            new_id = torch.empty(n, dtype=torch.long)
            new_id[n_id] = torch.arange(n)
            batch = ModelInputs(x=self.data.x[n_id], edge_index=new_id[self.data.edge_index], num_nodes=n)
            batch.n_id, batch.batch_size = n_id, first.numel()
            yield batch


@dataclass
class Observed:
    steps: list[tuple[int, float, float]] = field(default_factory=list)  # (epoch, learning rate, gradient norm)
    trained: list[int] = field(default_factory=list)  # epochs trained, in order
    evaluated: list[int] = field(default_factory=list)  # epochs after which the model was evaluated
    record: object = None


def _task_file(tmp: Path, level: str) -> Path:
    source, _, protocol = LEVELS[level]
    spec = yaml.safe_load((CATALOG / source).read_text())
    spec["id"] = f"{spec['id']}-{level}-settings"
    spec["protocol"] = {**spec["protocol"], "eval_every": EVAL_EVERY, **protocol}
    path = tmp / f"{spec['id']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture(scope="module")
def observed(tmp_path_factory) -> dict[str, Observed]:
    """Each level path run once with every setting on, and what its training did."""
    import torch_geometric.loader
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    from gbench.train import loop, node
    from conftest import run_gbench

    tmp = tmp_path_factory.mktemp("train-settings")
    real_fit = loop.fit
    seen: dict[str, Observed] = {}
    now = Observed()

    def spying_fit(train_epoch, evaluate, **kwargs):
        def traced_train_epoch(epoch):
            now.trained.append(epoch)
            return train_epoch(epoch)

        def traced_evaluate():
            now.evaluated.append(now.trained[-1])
            return evaluate()

        return real_fit(traced_train_epoch, traced_evaluate, **kwargs)

    def on_step(optimizer, args, kwargs):
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
        now.steps.append((now.trained[-1], optimizer.param_groups[0]["lr"], norm))

    with pytest.MonkeyPatch.context() as mp, register_optimizer_step_pre_hook(on_step):
        mp.setenv("GBENCH_OFFLINE", "1")
        mp.setenv("GBENCH_CACHE", str(tmp / "cache"))
        mp.setenv("COLUMNS", "200")
        mp.setattr(loop, "fit", spying_fit)
        import torch_geometric.typing as pyg_typing

        if not (pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE):
            mp.setattr(torch_geometric.loader, "NeighborLoader", WholeGraphLoader)
            mp.setattr(node, "_require_neighbor_sampler", lambda task_id: None)
        for level, (_, model, _) in LEVELS.items():
            now = Observed()
            out = tmp / level
            args = ["run", "--tasks", _task_file(tmp, level), "--models", model, "--seeds", "1", "--device", "cpu",
                    "--out", out]
            for setting in SETTINGS:
                args += ["--set", setting]
            assert run_gbench(*args) == 0, level
            (now.record,) = [read_record(p) for p in ResultStore(out).record_paths()]
            seen[level] = now
    return seen


@pytest.mark.parametrize("level", LEVELS)
def test_grad_clip_bounds_the_gradient_norm_at_every_optimizer_step(observed, level):
    run = observed[level]
    assert run.record.status == "ok", run.record.error
    norms = [norm for _, _, norm in run.steps]
    assert norms and max(norms) <= CLIP * (1 + 1e-5)
    # The gradients were larger than the bound, so the bound is what the optimizer saw.
    assert min(norms) == pytest.approx(CLIP, rel=1e-2)


@pytest.mark.parametrize("level", LEVELS)
def test_lr_schedule_multiplies_the_rate_by_gamma_after_every_step_size_epochs(observed, level):
    run = observed[level]
    lr = run.record.model_spec["optim"]["lr"]
    assert {epoch for epoch, _, _ in run.steps} == set(run.trained)  # every epoch trained took optimizer steps
    for epoch, rate, _ in run.steps:
        assert rate == pytest.approx(lr * GAMMA ** ((epoch - 1) // STEP_SIZE), rel=1e-9), (epoch, rate)


@pytest.mark.parametrize("level", LEVELS)
def test_patience_stops_training_that_many_evaluations_after_the_selected_one(observed, level):
    run = observed[level]
    assert run.record.epochs_run < EPOCHS
    assert run.trained == list(range(1, run.record.epochs_run + 1))
    assert run.evaluated[-1] == run.record.epochs_run
    assert run.evaluated.index(run.record.selected_epoch) + PATIENCE == len(run.evaluated) - 1


@pytest.mark.parametrize("level", LEVELS)
def test_eval_every_sets_the_epochs_that_are_evaluated(observed, level):
    run = observed[level]
    assert run.evaluated == [e for e in run.trained if e % EVAL_EVERY == 0 or e == EPOCHS]
    assert len(run.evaluated) >= PATIENCE + 1



@pytest.mark.parametrize("level", [lvl for lvl in LEVELS if lvl != "link"])  # link records keep val_history
def test_the_record_keeps_the_validation_history_selection_saw(observed, level):
    run = observed[level]
    history, record = run.record.extra["history"], run.record
    assert history["epoch"] == run.evaluated
    at = history["epoch"].index(record.selected_epoch)
    (metric,) = record.metrics["val"]
    assert history["val"][at] == record.metrics["val"][metric] and history["val_loss"][at] == record.val_loss
    assert len(history["train_loss"]) == len(run.evaluated) and all(x > 0 for x in history["train_loss"])
