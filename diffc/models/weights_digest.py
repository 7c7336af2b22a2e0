"""A digest of a model folder's files, each file hashed once and the result cached.

Hashing every weight tensor at load reads and copies the whole model on every run (minutes for an
SDXL or Flux folder). Instead each file's SHA-256 is computed once and kept in a cache keyed by the
file's absolute path, size and modification time (nanoseconds); a later load with the same key
reuses it, and a changed file (new size or mtime) is hashed again. The folder's digest is the
SHA-256 of every file's relative path, size and SHA-256, in sorted order, so it does not depend on
where the folder lives. Hidden files and folders (``.git``, ``.cache``) and model cards (``*.md``)
do not count: they do not decide any output.

The cache is one JSON file in ``$DIFFC_CACHE_DIR`` (default: ``$XDG_CACHE_HOME/diffc``, else
``~/.cache/diffc``), never in the model folder, which may be read-only. It is written atomically
(a temporary file renamed over it); an unwritable cache only costs the hashing again. What the
cache trusts: a file rewritten in place with the same size and mtime would keep its old digest
(``touch`` or any copy that changes the mtime forces a new hash).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

__all__ = ["CACHE_ENV", "cache_dir", "file_sha256", "folder_digest"]

CACHE_ENV = "DIFFC_CACHE_DIR"
_CACHE_NAME = "file-digests.json"
_CHUNK = 16 * 1024 * 1024


def cache_dir() -> Path:
    """Where the digest cache lives (see the module docstring)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "diffc"


def file_sha256(path: Path) -> str:
    """The SHA-256 of one file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _load_cache(file: Path) -> dict:
    try:
        cache = json.loads(file.read_text())
        return cache if isinstance(cache, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_cache(file: Path, cache: dict) -> None:
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".digests-")
        with os.fdopen(fd, "w") as f:
            json.dump(cache, f)
        os.replace(tmp, file)
    except OSError:
        pass  # an unwritable cache costs only the hashing next time


def _files(folder: Path) -> Iterable[Path]:
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and path.suffix != ".md" and not any(p.startswith(".") for p in rel.parts):
            yield path


def folder_digest(folder: str | Path, parts: Iterable[str] | None = None) -> bytes:
    """SHA-256 of the files of ``folder`` (only of its subfolders ``parts`` when given), each file's
    digest cached (see the module docstring)."""
    folder = Path(folder).resolve()
    roots = [folder] if parts is None else [folder / p for p in sorted(set(parts))]
    cache_file = cache_dir() / _CACHE_NAME
    cache, changed = _load_cache(cache_file), False
    h = hashlib.sha256(b"diffc-folder-digest/1\x00")
    for root in roots:
        for path in _files(root) if root.is_dir() else [root] if root.is_file() else []:
            stat = path.stat()
            key = str(path)
            entry = cache.get(key)
            if not (isinstance(entry, list) and entry[:2] == [stat.st_size, stat.st_mtime_ns]):
                entry = [stat.st_size, stat.st_mtime_ns, file_sha256(path)]
                cache[key], changed = entry, True
            h.update(f"{path.relative_to(folder).as_posix()}\x00{stat.st_size}\x00{entry[2]}\x00".encode())
    if changed:
        _save_cache(cache_file, cache)
    return h.digest()
