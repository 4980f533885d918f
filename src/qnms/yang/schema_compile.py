"""Compiling YANG modules into the ``Schema`` index, with pyang.

Kept apart from ``schema`` (the index's records) so that importing the records does
not import pyang: ``schema_cache.cached_schema`` imports this module only when modules
must actually be compiled (a cache miss), which an agent starting warm skips.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
from qnms.yang.schema import ChoiceInfo, Schema, SchemaError, SchemaNode, search_path
from qnms.yang.schema_types import Key, YangModule, build_type, identity_ancestors


def compile_schema(
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
    ``qnms.yang.schema_cache.cached_schema`` keeps the result between processes.
    """
    files, dirs = search_path(paths, search_dirs)
    repo = repository.FileRepository(":".join(str(d) for d in dirs), use_env=False)
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
