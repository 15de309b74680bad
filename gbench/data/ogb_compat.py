"""Loading OGB's own files under torch >= 2.6 without prompts.

ogb 1.3.6 calls `torch.load` on its processed files and on the official split files (`split/*/valid.pt`, which
hold numpy arrays); torch's `weights_only=True` default refuses both. Unpickling is only safe for files we trust,
so `trusted_ogb_loads` allows `weights_only=False` inside ogb's own modules, for exactly two kinds of file:
processed files inside gbench's cache (ogb wrote them there itself), and raw files whose sha256 matches
`TRUSTED_SHA256` below (the official OGB releases). Anything else still goes through `weights_only=True`.

ogb also calls `input()` when a download exceeds 1 GB or a cached folder lacks its release note; library code
must never prompt, so inside the context those calls raise with a message instead.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from pathlib import Path

from gbench.data.staging import sha256_file
from gbench.errors import DatasetUnavailable
from gbench.ogb_import import import_ogb

# sha256 of official OGB split files that hold pickled numpy arrays (checked against ../shared/data/SHA256SUMS).
TRUSTED_SHA256: dict[str, str] = {
    "ogbl_ddi/split/target/train.pt": "2197ac9225e2702c690e4ab0e5102599a24c57153d62cb8d557ca584e404822c",
    "ogbl_ddi/split/target/valid.pt": "4a48348f01fad0980a5be269fff7ace300e963144eef22d5ec4fc9830df872ac",
    "ogbl_ddi/split/target/test.pt": "b45cfcf1695babf5a13e90bdf08988be23570ca76af0737f9d517e005ea7e297",
}

_OGB_MODULES = ("ogb.nodeproppred.dataset_pyg", "ogb.linkproppred.dataset_pyg", "ogb.graphproppred.dataset_pyg")


def _no_prompt(prompt: str = "") -> str:
    raise DatasetUnavailable(f"ogb asked interactively: {prompt.strip()!r}; gbench never answers prompts: delete the "
                             "stale dataset folder in the gbench cache, or download the files by hand into the data "
                             "root.")


def _always_download(url: str) -> bool:
    return True


class _TrustedTorch(types.ModuleType):
    """Stands in for `torch` inside ogb's dataset modules; only `load` differs."""

    def __init__(self, torch_module: types.ModuleType, cache_root: Path, trusted: dict[str, str]) -> None:
        super().__init__("torch")
        self._torch = torch_module
        self._cache_root = cache_root.resolve()
        self._trusted = trusted

    def __getattr__(self, name: str):
        return getattr(self._torch, name)

    def _is_trusted(self, path: Path) -> bool:
        path = path.resolve()
        try:
            rel = path.relative_to(self._cache_root)
        except ValueError:
            return False
        if "processed" in rel.parts:
            return True
        key = "/".join(rel.parts[-4:]) if len(rel.parts) >= 4 else str(rel)
        expected = self._trusted.get(key)
        return bool(expected) and sha256_file(path) == expected

    def load(self, f, *args, **kwargs):
        if isinstance(f, (str, Path)) and self._is_trusted(Path(f)):
            kwargs["weights_only"] = False
        return self._torch.load(f, *args, **kwargs)


@contextlib.contextmanager
def trusted_ogb_loads(cache_root: Path, trusted: dict[str, str] | None = None) -> Iterator[None]:
    """Let ogb's dataset classes load their own files under `cache_root`; never prompt."""
    import torch

    proxy = _TrustedTorch(torch, cache_root, TRUSTED_SHA256 if trusted is None else trusted)
    saved: list[tuple[types.ModuleType, dict[str, object]]] = []
    for name in _OGB_MODULES:
        module = import_ogb(name)
        saved.append((module, {k: module.__dict__.get(k) for k in ("torch", "input", "decide_download")}))
        module.torch = proxy  # type: ignore[attr-defined]
        module.input = _no_prompt  # type: ignore[attr-defined]
        if hasattr(module, "decide_download"):
            module.decide_download = _always_download  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module, attrs in saved:
            for k, v in attrs.items():
                if v is None:
                    module.__dict__.pop(k, None)
                else:
                    setattr(module, k, v)
