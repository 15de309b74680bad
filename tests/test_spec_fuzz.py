"""Property tests of the spec loaders: whatever a file holds, loading it gives a valid spec or a SpecError that
names the file, never another exception."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gbench import specs
from gbench.errors import SpecError

ROOT = specs.catalog_root()
CATALOG = sorted(itertools.chain((ROOT / "tasks").rglob("*.yaml"), (ROOT / "baselines").rglob("*.yaml")))
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_counter = itertools.count()

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats() | text
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(text | st.sampled_from(["id", "level", "dataset", "params", "metric",
                                                                   "name", "source", "split", "kind", "tasks"]),
                                           inner, max_size=5), max_leaves=25)


def _loaders():
    return {"task": specs.load_task, "suite": specs.load_suite,
            "model": lambda p: specs.load_model(p, "node"), "candidate": specs.candidate_spec}


def _check_all_loaders(folder: Path, content: bytes) -> None:
    path = folder / f"spec-{next(_counter)}.yaml"
    path.write_bytes(content)
    for kind, load in _loaders().items():
        try:
            spec = load(str(path))
        except SpecError as e:
            assert str(path) in str(e), f"{kind} loader: the message does not name the file: {e}"
        else:
            assert isinstance(spec, (specs.TaskSpec, specs.ModelSpec, specs.SuiteSpec)), kind


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@SETTINGS
@given(doc=documents)
def test_random_yaml_documents_load_or_are_refused_naming_the_file(folder, doc):
    _check_all_loaders(folder, yaml.safe_dump(doc, allow_unicode=True).encode())


@SETTINGS
@given(blob=st.binary(max_size=200))
def test_random_bytes_load_or_are_refused_naming_the_file(folder, blob):
    _check_all_loaders(folder, blob)


def _paths(node, prefix=()):
    """Every (path to a mapping or list, key or index in it) of a parsed spec."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield prefix, key
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield prefix, i
            yield from _paths(value, (*prefix, i))


@st.composite
def mutated_specs(draw):
    """A catalog task or model with one key dropped, one value changed in type, or one key misspelt."""
    source = draw(st.sampled_from(CATALOG))
    data = yaml.safe_load(source.read_text())
    spots = list(_paths(data))
    for _ in range(draw(st.integers(1, 3))):
        spots = list(_paths(data))
        if not spots:
            break
        where, key = draw(st.sampled_from(spots))
        parent = data
        for step in where:
            parent = parent[step]
        op = draw(st.sampled_from(["drop", "retype", "misspell"]))
        if op == "drop" and isinstance(parent, dict):
            del parent[key]
        elif op == "misspell" and isinstance(parent, dict):
            i = draw(st.integers(0, max(len(str(key)) - 1, 0)))
            parent[str(key)[:i] + draw(st.sampled_from("aesx_")) + str(key)[i + 1:]] = parent.pop(key)
        else:
            parent[key] = draw(documents)
    return source, copy.deepcopy(data)


@SETTINGS
@given(case=mutated_specs())
def test_mutated_catalog_specs_load_or_are_refused_naming_the_file(folder, case):
    source, data = case
    # A model's relative implementation path is taken relative to its YAML's folder: write the copy beside it.
    path = folder / f"{source.stem}-{next(_counter)}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    load = specs.load_task if "tasks" in source.parts else (lambda p: specs.load_model(p, "any"))
    try:
        load(str(path))
    except SpecError as e:
        assert str(path) in str(e)
