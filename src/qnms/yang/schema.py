"""A compact index of the data nodes of a set of YANG modules, built with pyang.

The datastore layer walks XML trees millions of times; asking pyang's statement tree
each time (``search_one``, typedef chains, grouping expansion) would be both slow and
verbose. So the modules are compiled once into ``SchemaNode`` records keyed by
``(namespace, local-name)``, which is exactly what an lxml element tag gives. Choices
and cases vanish from the tree (they have no XML element) but each node remembers the
(choice, case) chain it sits in, so edits can enforce case exclusivity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyang import context, repository

from qnms.yang.pyang_statements import (
    DATA_KEYWORDS,
    flag,
    leaf_path,
    nacm_default_deny,
    pyang_errors,
    statement_id,
)
from qnms.yang.schema_types import (
    Key,
    LeafrefInfo,
    TypeInfo,
    YangModule,
    build_type,
    identity_ancestors,
)


@dataclass(slots=True, eq=False)
class ChoiceInfo:
    name: str
    mandatory: bool
    cases: dict[str, frozenset[Key]]  # case name -> data node keys in it (nested flattened)
    default_case: str | None = None  # RFC 7950 7.9.3, for defaults of unchosen choices


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

    @property
    def key(self) -> Key:
        return (self.ns, self.name)

    @property
    def tag(self) -> str:
        return f"{{{self.ns}}}{self.name}"

    @property
    def qname(self) -> str:
        return f"{self.prefix}:{self.name}"

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


def load_schema(
    paths: Sequence[str | Path],
    *,
    search_dirs: Sequence[str | Path] = (),
    features: Mapping[str, Iterable[str]] | None = None,
) -> Schema:
    """Parse and validate ``paths`` (and their imports) with pyang; index them.

    Imports are resolved from the directories of the given files plus
    ``search_dirs``. ``features`` maps a module name to its enabled features (as
    pyang's ``-F``); modules not named have all features enabled. The given files are
    "implement" modules; modules only pulled in by import are "import" modules.
    """
    files = [Path(p).resolve() for p in paths]
    dirs: list[str] = []
    for d in [*(f.parent for f in files), *(Path(d).resolve() for d in search_dirs)]:
        if str(d) not in dirs:
            dirs.append(str(d))
    repo = repository.FileRepository(":".join(dirs), use_env=False)
    ctx = context.Context(repo)
    if features:
        ctx.features = {m: list(f) for m, f in features.items()}
    main = []
    for f in files:
        mod = ctx.add_module(str(f), f.read_text(encoding="utf-8"))
        if mod is None:
            raise SchemaError(pyang_errors(ctx) or f"cannot parse {f}")
        main.append(mod)
    ctx.validate()
    problems = pyang_errors(ctx)
    if problems:
        raise SchemaError(problems)
    return _Indexer(ctx, main).build()


class _Indexer:
    def __init__(self, ctx: context.Context, main: list) -> None:
        self.ctx = ctx
        self.main = main
        self.prefixes: dict[str, str] = {}
        self.leafrefs: list[tuple[SchemaNode, object]] = []
        self.identities = self._index_identities()
        self.ancestors = {stmt: identity_ancestors(stmt) for stmt in self.identities}
        self.root_choices: dict[str, ChoiceInfo] = {}

    def build(self) -> Schema:
        all_mods = sorted(
            (m for m in self.ctx.modules.values() if m.keyword == "module"),
            key=lambda m: m.arg,
        )
        main_names = {m.arg for m in self.main}
        used: set[str] = set()
        for m in sorted(all_mods, key=lambda m: (m.arg not in main_names, m.arg)):
            ns = m.search_one("namespace").arg
            prefix = m.search_one("prefix").arg
            self.prefixes[ns] = m.arg if prefix in used else prefix
            used.add(self.prefixes[ns])
        modules = [self._yang_module(m, m.arg in main_names) for m in all_mods]
        roots: dict[Key, SchemaNode] = {}
        rpcs: dict[Key, SchemaNode] = {}
        notifs: dict[Key, SchemaNode] = {}
        for m in all_mods:
            for stmt in m.i_children:
                if stmt.keyword == "rpc":
                    node = self._node(stmt, None, (), True, "rpc")
                    rpcs[node.key] = node
                elif stmt.keyword == "notification":
                    node = self._node(stmt, None, (), True, "notification")
                    notifs[node.key] = node
            self._children(m, None, roots, (), True)
        for node in roots.values():
            _mark_mandatory(node)
        schema = Schema(modules, roots, rpcs, notifs, dict(self.prefixes))
        schema.root_choices = self.root_choices
        return schema

    def _yang_module(self, m, implement: bool) -> YangModule:
        revs = sorted((r.arg for r in m.search("revision")), reverse=True)
        enabled = self.ctx.features.get(m.arg)
        feats = tuple(f for f in m.i_features if enabled is None or f in enabled)
        return YangModule(
            name=m.arg,
            revision=revs[0] if revs else "",
            namespace=m.search_one("namespace").arg,
            prefix=m.search_one("prefix").arg,
            path=Path(m.pos.ref),
            features=feats,
            conformance="implement" if implement else "import",
        )

    def _index_identities(self) -> dict[object, Key]:
        ids: dict[object, Key] = {}
        for m in self.ctx.modules.values():
            if m.keyword != "module":
                continue
            ns = m.search_one("namespace").arg
            for name, stmt in m.i_identities.items():
                ids[stmt] = (ns, name)
        return ids

    def _derived(self, bases: list) -> frozenset[Key]:
        """Identities derived (strictly) from every one of ``bases``."""
        out = set()
        for stmt, key in self.identities.items():
            ancestors = self.ancestors[stmt]
            if all(b in ancestors and b is not stmt for b in bases):
                out.add(key)
        return frozenset(out)

    def _children(self, stmt, parent, table, cases, config) -> None:
        for ch in getattr(stmt, "i_children", ()):
            if getattr(ch, "i_not_implemented", False):
                continue  # an if-feature whose feature is disabled: not in the schema
            if ch.keyword == "choice":
                cid = statement_id(ch)
                case_keys: dict[str, frozenset[Key]] = {}
                for case in ch.i_children:
                    if getattr(case, "i_not_implemented", False):
                        continue
                    sub: dict[Key, SchemaNode] = {}
                    chain = (*cases, (cid, case.arg))
                    if case.keyword == "case":
                        self._children(case, parent, sub, chain, config)
                    else:  # shorthand case: the data node is its own case
                        self._add(case, parent, sub, chain, config)
                    table.update(sub)  # nested choices land in ``sub`` too, so they count
                    case_keys[case.arg] = frozenset(sub)
                dflt = ch.search_one("default")
                info = ChoiceInfo(ch.arg, flag(ch, "mandatory"), case_keys,
                                  dflt.arg if dflt is not None else None)  # fmt: skip
                (self.root_choices if parent is None else parent.choices)[cid] = info
            elif ch.keyword in DATA_KEYWORDS or ch.keyword in ("input", "output"):
                self._add(ch, parent, table, cases, config)

    def _add(self, stmt, parent, table, cases, config) -> None:
        node = self._node(stmt, parent, cases, config, stmt.keyword)
        table[node.key] = node

    def _node(self, stmt, parent, cases, config, keyword) -> SchemaNode:
        mod = stmt.i_module
        ns = mod.search_one("namespace").arg
        cfg = config and getattr(stmt, "i_config", True) is not False
        node = SchemaNode(
            name=stmt.arg,
            ns=ns,
            prefix=self.prefixes[ns],
            module=mod.arg,
            keyword=keyword,
            config=cfg,
            parent=parent,
            cases=cases,
            nacm=nacm_default_deny(stmt),
        )
        if keyword == "list":
            node.keys = tuple(k.arg for k in (getattr(stmt, "i_key", None) or ()))
            node.unique = tuple(
                tuple(leaf_path(leaf, stmt) for leaf in leaves)
                for _u, leaves in getattr(stmt, "i_unique", ())
            )
        if keyword in ("list", "leaf-list"):
            ob = stmt.search_one("ordered-by")
            node.user_ordered = ob is not None and ob.arg == "user"
            mn = stmt.search_one("min-elements")
            mx = stmt.search_one("max-elements")
            node.min_elements = int(mn.arg) if mn is not None else 0
            node.max_elements = int(mx.arg) if mx is not None and mx.arg != "unbounded" else None
        if keyword in ("leaf", "leaf-list"):
            node.type = build_type(stmt.search_one("type"), self._derived)
            if keyword == "leaf":
                dflt = getattr(stmt, "i_default_str", None)
                node.default = (dflt,) if dflt not in (None, "") else ()
            else:
                node.default = tuple(d.arg for d in stmt.search("default"))
        if keyword in ("leaf", "anydata", "anyxml"):
            node.mandatory = flag(stmt, "mandatory")
            if node.mandatory:  # RFC 7950 7.6.1: no default, not even its type's
                node.default = ()
        if keyword == "container":
            node.presence = stmt.search_one("presence") is not None
        if keyword not in ("leaf", "leaf-list", "anydata", "anyxml"):
            self._children(stmt, node, node.children, (), cfg)
        return node


def _mark_mandatory(node: SchemaNode) -> bool:
    """Set ``has_mandatory``: does an instance of ``node`` force mandatory data below?"""
    found = False
    for ch in node.children.values():
        sub = _mark_mandatory(ch)
        if ch.cases:
            continue  # inside a case: only enforced when the case is active
        np_container = ch.keyword == "container" and not ch.presence
        if ch.mandatory or ch.min_elements > 0 or (np_container and sub):
            found = True
    if any(c.mandatory for c in node.choices.values()):
        found = True
    node.has_mandatory = found
    if node.keyword == "container" and not node.presence:
        return found
    return False


__all__ = [
    "ChoiceInfo",
    "Key",
    "LeafrefInfo",
    "Schema",
    "SchemaError",
    "SchemaNode",
    "TypeInfo",
    "load_schema",
]
