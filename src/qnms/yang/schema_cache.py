"""The compiled ``Schema`` kept on disk between processes, so a start skips pyang.

Compiling a stratum's modules with pyang costs an agent ~0.3 s at every start plus
~0.5 s of pyang imports (issue 13: an agent listens < 0.7 s after start); the result
depends only on the module texts and on the code that compiles them. So it is pickled
under a key that hashes every input: the bytes of every ``.yang`` file in the
directories modules are found in (an import resolves to any of them), the features,
pyang's version (its ``__init__.py``, read as a file: a hit imports no pyang at all),
and the source of the qnms modules that compile the schema (which stands for qnms's
version, and more: a change to ``SchemaNode`` in a source tree invalidates old entries
without a version bump).

The cache is an optimisation, never a source of failure: an unreadable, corrupt or
foreign entry is ignored and rebuilt, an unwritable directory means no cache. Entries
are written to a temporary file and renamed, so a reader never sees half an entry.
Only entries owned by this user in a directory only this user can write are read:
unpickling runs code, and the cache must not be a way in.

Where: ``$QNMS_CACHE_DIR`` (empty: no cache), else ``$XDG_CACHE_HOME/qnms``, else
``~/.cache/qnms``; entries go in its ``schema/`` folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import pickle
import stat
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from qnms.yang import restrictions, schema, schema_types
from qnms.yang.schema import Schema, search_path

log = logging.getLogger(__name__)

FORMAT = b"qnms-schema-cache 2"  # 2: SchemaNode keeps key, tag and qname
# The modules whose code decides what a compiled schema holds (the compiler's own file
# is found next to them without importing it, which would import pyang).
_CODE = [Path(m.__file__ or "") for m in (schema, schema_types, restrictions)]
_CODE += [_CODE[0].with_name(n) for n in ("schema_compile.py", "pyang_statements.py")]


def _package_module(name: str) -> list[Path]:
    """The ``__init__.py`` of package ``name``, found without importing it (none if it is
    not installed: a hit needs no pyang, a miss reports it)."""
    spec = importlib.util.find_spec(name)
    return [Path(spec.origin)] if spec is not None and spec.origin else []


# pyang's version: its package module, which holds ``__version__``, hashed as a file.
# Importing pyang for ``__version__`` was all the pyang a warm start loaded, and
# importlib.metadata would cost more (~20 ms of imports) than that import did.
PYANG = _package_module("pyang")


def default_dir() -> Path | None:
    """The cache directory from the environment (None: caching is switched off)."""
    configured = os.environ.get("QNMS_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "qnms"


def cache_key(
    paths: Sequence[str | Path],
    search_dirs: Sequence[str | Path] = (),
    features: Mapping[str, Iterable[str]] | None = None,
) -> str:
    """A hash of everything the compiled schema of these arguments depends on."""
    files, dirs = search_path(paths, search_dirs)
    h = hashlib.sha256(FORMAT)
    feats = sorted((m, sorted(f)) for m, f in (features or {}).items())
    h.update(f"{feats!r}\0".encode())
    for f in files:
        h.update(b"main\0" + str(f).encode() + b"\0")
    modules = {f for d in dirs for f in d.glob("*.yang")} | set(files)  # dirs are resolved
    for f in [*sorted(modules), *_CODE, *PYANG]:
        h.update(str(f).encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def cached_schema(
    paths: Sequence[str | Path],
    *,
    search_dirs: Sequence[str | Path] = (),
    features: Mapping[str, Iterable[str]] | None = None,
    directory: Path | None = None,
) -> Schema:
    """``schema_compile.compile_schema``'s result, from ``directory``'s cache when it
    holds it (no pyang then), else compiled and stored there. ``directory`` None:
    ``default_dir()``."""
    folder = directory if directory is not None else default_dir()
    if folder is None:
        return _compile(paths, search_dirs, features)
    try:
        key = cache_key(paths, search_dirs, features)
    except OSError:  # a module unreadable: let pyang report it (or not need it)
        return _compile(paths, search_dirs, features)
    entry = folder / "schema" / f"{key}.pickle"
    found = read_entry(entry)
    if found is not None:
        return found
    compiled = _compile(paths, search_dirs, features)
    write_entry(entry, compiled)
    return compiled


def _compile(
    paths: Sequence[str | Path],
    search_dirs: Sequence[str | Path],
    features: Mapping[str, Iterable[str]] | None,
) -> Schema:
    # Imported here, not at the top, for laziness: pyang's parser and type modules cost
    # ~0.5 s of imports, and a process that finds its schema in the cache (an agent
    # starting, issue 13) never needs them.
    from qnms.yang import schema_compile

    return schema_compile.compile_schema(paths, search_dirs=search_dirs, features=features)


def read_entry(entry: Path) -> Schema | None:
    """The schema pickled in ``entry``, or None if absent, unsafe or unreadable."""
    try:
        if not (_trusted(entry.parent) and _trusted(entry)):
            return None
        data = entry.read_bytes()
    except OSError:
        return None  # absent (the usual miss) or unreadable
    try:
        loaded = pickle.loads(data)
    except Exception as exc:  # truncated or corrupt: unpickling can raise anything
        log.warning("ignoring the unreadable schema cache %s: %s", entry, exc)
        return None
    if not isinstance(loaded, Schema):
        log.warning("ignoring the schema cache %s: it holds no schema", entry)
        return None
    return loaded


def write_entry(entry: Path, compiled: Schema) -> bool:
    """Store ``compiled`` in ``entry`` atomically; False (and no file) if it cannot."""
    tmp = None
    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = pickle.dumps(compiled, protocol=pickle.HIGHEST_PROTOCOL)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".", suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, entry)
        return True
    except Exception as exc:  # no space, no permission, something unpicklable: no cache
        log.info("schema cache not written (%s): %s", entry, exc)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        return False


def _trusted(path: Path) -> bool:
    """Owned by this user and writable by no one else (unpickling runs code)."""
    st = path.stat()
    return st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
