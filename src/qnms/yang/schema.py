"""A compact index of the data nodes of a set of YANG modules, built with pyang.

The datastore layer walks XML trees millions of times; asking pyang's statement tree
each time (``search_one``, typedef chains, grouping expansion) would be both slow and
verbose. So the modules are compiled once into ``SchemaNode`` records keyed by
``(namespace, local-name)``, which is exactly what an lxml element tag gives. Choices
and cases vanish from the tree (they have no XML element) but each node remembers the
(choice, case) chain it sits in, so edits can enforce case exclusivity.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qnms.yang.schema_types import Key, LeafrefInfo, TypeInfo, YangModule, pickled_by_fields


@pickled_by_fields
@dataclass(slots=True, eq=False)
class ChoiceInfo:
    name: str
    mandatory: bool
    cases: dict[str, frozenset[Key]]  # case name -> data node keys in it (nested flattened)
    default_case: str | None = None  # RFC 7950 7.9.3, for defaults of unchosen choices


@pickled_by_fields
@dataclass(slots=True, eq=False)
class SchemaNode:
    """One data node (or rpc/notification/input/output) of the schema tree."""

    name: str
    ns: str
    prefix: str  # prefix used for this namespace in error paths and change targets
    module: str
    keyword: str
    config: bool
    parent: SchemaNode | None = None
    children: dict[Key, SchemaNode] = field(default_factory=dict)
    keys: tuple[str, ...] = ()
    mandatory: bool = False
    default: tuple[str, ...] = ()
    user_ordered: bool = False
    presence: bool = False
    min_elements: int = 0
    max_elements: int | None = None
    type: TypeInfo | None = None
    unique: tuple[tuple[tuple[Key, ...], ...], ...] = ()  # each: descendant leaf paths
    cases: tuple[tuple[str, str], ...] = ()  # (choice id, case name), outermost first
    choices: dict[str, ChoiceInfo] = field(default_factory=dict)  # choice id -> info
    has_mandatory: bool = False  # a mandatory node is reachable without instances
    nacm: str | None = None  # "default-deny-all" / "default-deny-write" (RFC 8341 3.5.2)
    # Derived once (name, ns and prefix never change after compile): every edit, check
    # and read asks for them per node, and rebuilding the strings each time was a
    # measurable share of a small edit (issue 13). Pickled with the rest.
    key: Key = field(init=False, repr=False)
    tag: str = field(init=False, repr=False)  # lxml's "{ns}name"
    qname: str = field(init=False, repr=False)  # "prefix:name", for paths and errors

    def __post_init__(self) -> None:
        self.key = (self.ns, self.name)
        self.tag = f"{{{self.ns}}}{self.name}"
        self.qname = f"{self.prefix}:{self.name}"

    @property
    def is_list_like(self) -> bool:
        return self.keyword in ("list", "leaf-list")

    def schema_path(self) -> str:
        parts: list[str] = []
        node: SchemaNode | None = self
        while node is not None:
            parts.append(node.qname)
            node = node.parent
        return "/" + "/".join(reversed(parts))

    def __repr__(self) -> str:
        return f"<SchemaNode {self.keyword} {self.schema_path()}>"


class SchemaError(Exception):
    """The YANG modules could not be loaded (parse or validation errors)."""


class Schema:
    """The data nodes of all loaded modules, addressed by ``(namespace, name)``."""

    def __init__(
        self,
        modules: list[YangModule],
        roots: dict[Key, SchemaNode],
        rpcs: dict[Key, SchemaNode],
        notifications: dict[Key, SchemaNode],
        prefixes: dict[str, str],
    ) -> None:
        self.modules = modules
        self.roots = roots
        self.rpcs = rpcs
        self.notifications = notifications
        self.prefixes = prefixes  # namespace -> prefix, unique per namespace
        self.namespaces = {p: ns for ns, p in prefixes.items()}
        self.module_of_ns = {m.namespace: m.name for m in modules}
        self.root_choices: dict[str, ChoiceInfo] = {}  # choices at module top level

    def child(self, parent: SchemaNode | None, key: Key) -> SchemaNode | None:
        table = self.roots if parent is None else parent.children
        return table.get(key)

    def find(self, path: str) -> SchemaNode:
        """Look up a schema node by ``/prefix:name/prefix:name`` (for tests, tools)."""
        node: SchemaNode | None = None
        for step in path.strip("/").split("/"):
            prefix, _, name = step.rpartition(":")
            ns = self.namespaces[prefix] if prefix else (node.ns if node else "")
            found = self.child(node, (ns, name))
            if found is None:
                raise KeyError(path)
            node = found
        if node is None:
            raise KeyError(path)
        return node

    def iter_nodes(self) -> Iterable[SchemaNode]:
        stack = list(self.roots.values())
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children.values())


# ---------------------------------------------------------------------------- loading


def search_path(
    paths: Sequence[str | Path], search_dirs: Sequence[str | Path] = ()
) -> tuple[list[Path], list[Path]]:
    """The module files, resolved, and the directories their imports are found in:
    the files' own directories, then ``search_dirs`` (each once, in that order)."""
    files = [Path(p).resolve() for p in paths]
    dirs: list[Path] = []
    for d in [*(f.parent for f in files), *(Path(d).resolve() for d in search_dirs)]:
        if d not in dirs:
            dirs.append(d)
    return files, dirs


__all__ = [
    "ChoiceInfo",
    "Key",
    "LeafrefInfo",
    "Schema",
    "SchemaError",
    "SchemaNode",
    "TypeInfo",
    "search_path",
]


@functools.lru_cache(maxsize=4096)
def children_by_tag(schema: Schema, parent: SchemaNode | None) -> dict[str, tuple[Key, SchemaNode]]:
    """The children of ``parent`` (None: the schema's roots) by element tag, what a walk
    over an instance's children looks each one up in (validation, the state merge).
    Schemas never change once compiled, so this is made once per schema node and
    process, not per edit or read. Callers must not modify the dict."""
    table = schema.roots if parent is None else parent.children
    return {f"{{{k[0]}}}{k[1]}": (k, n) for k, n in table.items()}


@functools.lru_cache(maxsize=4096)
def sole_tags(schema: Schema, parent: SchemaNode | None) -> frozenset[str]:
    """The element tags that name one schema node alone among all descendants of
    ``parent`` (None: the schema's roots): below an instance of ``parent``, every
    element with one of these tags is an instance of that node, so a C-level scan by
    tag finds exactly its instances (issue 13). None of them when an anydata or anyxml
    (any content) is below."""
    seen: dict[str, int] = {}
    stack = list((schema.roots if parent is None else parent.children).values())
    while stack:
        node = stack.pop()
        if node.keyword in ("anydata", "anyxml"):
            return frozenset()
        seen[node.tag] = seen.get(node.tag, 0) + 1
        stack.extend(node.children.values())
    return frozenset(tag for tag, n in seen.items() if n == 1)
