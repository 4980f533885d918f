"""What the datastores hold when a server starts (RFC 6241 8.3 candidate, 8.7 startup).

Kept apart from ``manager`` (which serves and changes the datastores once loaded):
loading decides where running comes from and refuses to start on an invalid file,
naming every problem, rather than serving a configuration the schema rejects.
"""

from __future__ import annotations

import copy
from typing import Any

from qnms.netconf.datastore.checking import Store, dedupe
from qnms.netconf.datastore.storage import DatastoreError, StateFiles
from qnms.yang.bindings import BindingValidator, Roots
from qnms.yang.schema import Schema
from qnms.yang.tree import as_data_tree, new_data
from qnms.yang.validation import Problem, validate_tree


def load_stores(
    files: StateFiles, schema: Schema, binder: BindingValidator, initial: Any, *, lazy: bool
) -> dict[str, Store]:
    """running, candidate and startup as a server starts: running from its persisted
    file, else a copy of startup, else ``initial``; checked against the schema (every
    value; pyangbind objects built now unless ``lazy``), refused whole with each
    problem's path if invalid, and persisted if it was not yet."""
    running = files.load("running")
    startup = files.load("startup")
    origin = f"persisted {files.path('running')}"
    persisted = running is not None
    if running is None and startup is not None:
        running, origin = copy.deepcopy(startup), f"startup {files.path('startup')}"
    elif running is None:
        running, origin = as_data_tree(schema, initial), "initial configuration"
    roots: Roots | None = None if lazy else binder.new_roots()
    problems: list[Problem] = []
    if len(running):
        # lazily bound: pyang checks every value now, pyangbind decodes on demand
        deep = frozenset(m.name for m in schema.modules) if lazy else binder.unbound
        problems = validate_tree(schema, running, deep_modules=deep)
        if not lazy:
            roots, more = binder.decode(running)
            problems = dedupe(problems + more)
    if problems:
        lines = "\n".join(f"  {p.error.path}: {p.error.message}" for p in problems)
        raise DatastoreError(f"invalid {origin}:\n{lines}")
    if not persisted:
        files.save("running", running)
    return {
        "running": Store(running, roots),
        "candidate": Store(running),
        "startup": Store(startup if startup is not None else new_data(), checked=startup is None),
    }
