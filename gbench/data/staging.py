"""Data root and cache: raw inputs are copied from the (possibly read-only) data root into gbench's own cache, and
loaders only ever read and write inside the cache.

The data root is `--data-root`, else `GBENCH_DATA`; with neither, the loaders download straight into the cache
(`GBENCH_CACHE`, else `~/.cache/gbench`), which then serves as the data root.
`GBENCH_OFFLINE=1` forbids any download attempt; a missing dataset then fails at once with the files it expected.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gbench.atomic import atomic_path
from gbench.errors import DatasetUnavailable


def default_cache_dir() -> Path:
    env = os.environ.get("GBENCH_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gbench"


@dataclass(frozen=True)
class DataContext:
    """Where raw inputs come from (`data_root`, never written) and where gbench works (`cache_dir`)."""

    data_root: Path | None
    cache_dir: Path
    offline: bool = False

    @classmethod
    def from_env(cls, data_root: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
                 offline: bool | None = None) -> DataContext:
        root = data_root if data_root is not None else os.environ.get("GBENCH_DATA")
        if offline is None:
            offline = os.environ.get("GBENCH_OFFLINE", "").lower() in ("1", "true", "yes")
        root_path = Path(root).expanduser().resolve() if root else None
        if root_path is not None and not root_path.is_dir():
            from gbench.errors import GbenchError

            raise GbenchError(f"data root {root_path} (from --data-root or GBENCH_DATA) is not a directory; "
                              "point it at a folder holding raw datasets, or unset it to download into the cache.")
        cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        return cls(data_root=root_path, cache_dir=cache.resolve(), offline=offline)

    def describe_root(self) -> str:
        return str(self.data_root) if self.data_root else "(no data root: set --data-root or GBENCH_DATA)"


@contextlib.contextmanager
def cache_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on a cache folder (`<path>/.lock`, filelock), so two processes never build the same
    processed files at once; the kernel drops it when its holder dies."""
    from filelock import FileLock

    path.mkdir(parents=True, exist_ok=True)
    with FileLock(path / ".lock"):
        yield


def save_tensors(value: Any, path: Path) -> None:
    """`torch.save` atomically (gbench.atomic): a reader never sees half a file."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(value, tmp)


def cached_tensors(path: Path, build: Callable[[], Any]) -> Any:
    """What `build()` returns (plain tensors, strings and numbers), saved once at `path` and read back from there
    afterwards with `torch.load(weights_only=True)`. Built under the folder's lock, so two processes never build
    the same thing at once."""
    import torch

    with cache_lock(path.parent):
        if path.exists():
            return torch.load(path, weights_only=True)
        value = build()
        save_tensors(value, path)
    return value


def tensors_digest(tensors: dict[str, Any]) -> str:
    """sha256 over named tensors (name, dtype, shape and bytes, in name order): a digest of what the data is, so two
    records scored on equal data carry equal digests whatever code or cache key made it."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def copy_raw_files(src_dir: Path | None, dst_dir: Path, names: Iterable[str]) -> list[str]:
    """Copy the named files from `src_dir` into `dst_dir` where present; return the names still missing."""
    missing = []
    for name in names:
        dst = dst_dir / name
        if dst.exists():
            continue
        src = src_dir / name if src_dir is not None else None
        if src is not None and src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(dst) as tmp:
                shutil.copyfile(src, tmp)
        else:
            missing.append(name)
    return missing


def copy_raw_tree(src_dir: Path, dst_dir: Path, skip: tuple[str, ...] = ("processed",)) -> list[Path]:
    """Mirror a raw dataset folder into the cache (files only, skipping processed outputs); return the files it
    copied, relative to `dst_dir`.

    A file is copied when the cache lacks it or holds one of another size or modification time (a copy keeps its
    source's). The cache's `processed/` folder is removed unless `dst_dir/.raw-files` says it was made from the same
    raw files (names, sizes, modification times) as the data root holds now: PyG's TUDataset, for one, reads node
    labels only if their file is there, and the library would not notice a folder made from other files, since it
    checks only that its processed files exist. A cache from before this listing is reprocessed once. The caller
    holds the cache lock."""
    copied, listing = [], []
    for src in sorted(src_dir.rglob("*")):
        rel = src.relative_to(src_dir)
        if rel.parts and rel.parts[0] in skip or not src.is_file():
            continue
        st, dst = src.stat(), dst_dir / rel
        listing.append(f"{rel.as_posix()}\t{st.st_size}\t{st.st_mtime_ns}")
        have = dst.stat() if dst.is_file() else None
        if have is None or (have.st_size, have.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
            dst.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(dst) as tmp:
                shutil.copyfile(src, tmp)  # not copy2: the root's read-only mode would follow it into the cache
                os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
            copied.append(rel)
    manifest, text = dst_dir / ".raw-files", "\n".join(listing) + "\n"
    if not manifest.is_file() or manifest.read_text() != text:
        shutil.rmtree(dst_dir / "processed", ignore_errors=True)
        dst_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(manifest) as tmp:
            tmp.write_text(text)
    return copied


def unavailable(what: str, expected: Iterable[Path | str], ctx: DataContext, cause: BaseException | None = None,
                hint: str = "") -> DatasetUnavailable:
    files = ", ".join(str(p) for p in expected)
    why = f" and the download failed ({type(cause).__name__}: {cause})" if cause else " and downloads are off"
    return DatasetUnavailable(
        f"{what}: raw files not found under the data root {ctx.describe_root()}{why}; expected {files}. "
        f"Place them there (or point --data-root / GBENCH_DATA at a copy){hint}.")


def staged_pyg_dataset(cls: type, ctx: DataContext, root_name: str, **kwargs: Any):
    """Instantiate a PyG dataset class on a cache folder whose raw files are staged from the data root.

    `root_name` is the folder under the data root (and the cache) that the class takes as `root`, e.g.
    'Planetoid' for `Planetoid(root=.../Planetoid, name='Cora')`. The class's own `download()` runs only when the
    data root lacks a raw file and downloads are allowed; its failure becomes one clear error.
    """
    cache_root = ctx.cache_dir / "datasets" / root_name
    data_root = ctx.data_root / root_name if ctx.data_root else None

    class Staged(cls):  # type: ignore[misc, valid-type]
        def download(self) -> None:
            from torch_geometric.data.dataset import to_list

            rel = Path(self.raw_dir).relative_to(cache_root)
            names = to_list(self.raw_file_names)
            missing = copy_raw_files(data_root / rel if data_root else None, Path(self.raw_dir), names)
            if not missing:
                return
            expected = [(data_root or Path("<data root>") / root_name) / rel / m for m in missing]
            if ctx.offline:
                raise unavailable(f"{cls.__name__}({kwargs.get('name', '')})", expected, ctx)
            try:
                super().download()
            except Exception as e:  # network errors come in many types; all mean the same to the user
                raise unavailable(f"{cls.__name__}({kwargs.get('name', '')})", expected, ctx, e) from e

    Staged.__name__ = cls.__name__
    Staged.__qualname__ = cls.__qualname__
    return Staged(root=str(cache_root), **kwargs)
