"""pyangbind objects for each datastore, kept in step with the XML trees.

The XML tree is the datastore's source of truth for reads (cheap to copy and
serialise); the pyangbind objects are what agent code reads and what type-checks
values (ranges, lengths, patterns, enumerations, identityrefs). pyangbind is slow to
build (several ms per list entry, because every value creates classes), so a change
never re-decodes the whole tree: each changed subtree is decoded once into a
detached "scratch" object of the same generated class, which both proves the values
valid and becomes the new live object. ``prepare`` does the decoding and returns
thunks; only if every check passed are the thunks run, so a failed edit leaves the
live objects untouched.

Binding classes come as a mapping {module name: pyangbind root class}, e.g.
``{"example-net": example_net}`` or, for the project, the classes of
``qnms_bindings.<module_name>``. Nodes a class does not know (an augment generated
in a separate file) are skipped.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from lxml import etree

from qnms.yang.diff import Change
from qnms.yang.errors import ErrorTag, RpcError
from qnms.yang.schema import Schema, SchemaNode
from qnms.yang.tree import Chain, Ident, ident_of, path_of, resolve_qname, split_tag
from qnms.yang.validation import Problem

log = logging.getLogger(__name__)
Roots = dict[str, Any]  # module name -> pyangbind root object


class Resync(Exception):
    """The live objects do not mirror the tree: rebuild them from scratch."""


@functools.cache
def safe_name(name: str) -> str:
    """pyangbind's Python name for a YANG name (its own rule, so the two never differ)."""
    # Imported on first use, for laziness: pyangbind's types module loads the ``regex``
    # package (~40 ms), which an agent does not need before its first binding object.
    from pyangbind.lib.yangtypes import safe_name as pb_safe

    return str(pb_safe(name))


def _generated_class(obj: Any) -> type:
    for cls in type(obj).__mro__:
        if "_pyangbind_elements" in cls.__dict__:
            return cls
    raise Resync(f"not a pyangbind container: {type(obj)!r}")


def _graft(parent: Any, safe: str, child: Any) -> None:
    """Make ``child`` the value of ``parent.<safe>`` without pyangbind copying it.

    pyangbind's setters deep-copy containers and lose list entries on the way, so
    the private attribute (``_<GeneratedClass>__<safe>``) is set directly.
    """
    cls = _generated_class(parent)
    setattr(parent, f"_{cls.__name__.lstrip('_')}__{safe}", child)
    _reparent(child, parent)


def _reparent(child: Any, parent: Any) -> None:
    with contextlib.suppress(AttributeError):
        child._parent = parent


class BindingValidator:
    """Decodes config trees into pyangbind objects, reporting bad values precisely."""

    def __init__(self, schema: Schema, classes: Mapping[str, type] | None) -> None:
        self.schema = schema
        self.classes: Mapping[str, type] = classes if classes is not None else {}
        self.unbound = frozenset(m.name for m in schema.modules if m.name not in self.classes)
        self._warned: set[str] = set()
        self._templates: dict[tuple, Any] = {}
        # One detached instance per generated class, reused: whatever a change needs
        # is reset (_unset_*, entries popped) before it is decoded into, and what is
        # decoded is handed over to the live objects, never shared.
        self._scratch: dict[type, Any] = {}

    # --------------------------------------------------------------- whole tree

    def new_roots(self) -> Roots:
        return {m: cls() for m, cls in self.classes.items()}

    def decode(self, root: etree._Element) -> tuple[Roots, list[Problem]]:
        """Fresh objects for the whole tree (startup, or when increments cannot help)."""
        roots = self.new_roots()
        problems: list[Problem] = []
        leaflists: dict[str, dict] = {m: {} for m in roots}
        for c in root:
            if not isinstance(c.tag, str):
                continue
            node = self.schema.roots.get(split_tag(c.tag))
            if node is None or node.module not in roots or not node.config:
                continue
            self._child(roots[node.module], node, c, problems, leaflists[node.module])
        for module, lls in leaflists.items():
            for safe, (node, els) in lls.items():
                self._set_leaf_list(roots[module], safe, node, els, problems)
        return roots, problems

    # -------------------------------------------------------------- increments

    def prepare(
        self, live: Roots | None, changes: list[Change]
    ) -> tuple[list[Callable[[], None]], list[Problem]]:
        """Decode the changed subtrees; return the thunks that install them in ``live``.

        With ``live`` None the values are only checked (a datastore whose objects are
        not materialised). Raises ``Resync`` when ``live`` cannot be navigated to a
        change.
        """
        thunks: list[Callable[[], None]] = []
        problems: list[Problem] = []
        scratch = self._scratch
        done: set[tuple[etree._Element | None, str]] = set()  # leaf-lists decoded
        reorder: dict[tuple[int, str], tuple[Any, SchemaNode, etree._Element]] = {}
        for ch in changes:
            node = ch.node
            module = ch.chain[0][0].module
            if module not in self.classes:
                continue
            if live is not None:
                parent = self._navigate(live[module], ch.chain[:-1])
            else:
                parent = self._template(module, ch.chain[:-1])
            safe = safe_name(node.name)
            if safe not in parent._pyangbind_elements:
                self._warn(node)
                continue
            gen = _generated_class(parent)
            if gen not in scratch:
                scratch[gen] = gen()
            scr = scratch[gen]
            target = parent if live is not None else None
            if node.keyword == "list":
                self._prepare_entry(target, scr, safe, node, ch, thunks, problems)
                if target is not None and node.user_ordered and ch.parent is not None:
                    reorder[(id(parent), safe)] = (getattr(parent, safe), node, ch.parent)
            elif node.keyword == "leaf-list":
                if (ch.parent, safe) in done:
                    continue
                done.add((ch.parent, safe))
                els = list(ch.parent.iterchildren(node.tag)) if ch.parent is not None else []
                self._prepare_value(target, scr, safe, node, els, thunks, problems)
            elif node.keyword in ("leaf", "container"):
                els = [ch.element] if ch.element is not None else []
                self._prepare_value(target, scr, safe, node, els, thunks, problems)
        for lst, node, parent_el in reorder.values():
            thunks.append(self._reorder_thunk(lst, node, parent_el))
        return thunks, problems

    def _template(self, module: str, chain: Chain) -> Any:
        """An instance of the class that holds the last node of ``chain``'s children.

        Used to find generated classes without live objects; instances are cached
        and never modified.
        """
        key = (module, tuple(node.tag for node, _ in chain))
        obj = self._templates.get(key)
        if obj is None:
            if chain:
                obj = self._template(module, chain[:-1])
                node = chain[-1][0]
                obj = getattr(obj, safe_name(node.name))
                if node.keyword == "list":
                    obj = obj._contained_class()
            else:
                obj = self.classes[module]()
            self._templates[key] = obj
        return obj

    def _navigate(self, obj: Any, chain: Chain) -> Any:
        try:
            for node, ident in chain:
                obj = getattr(obj, safe_name(node.name))
                if node.keyword == "list":
                    obj = obj._members[self.key_string(ident)]
        except (AttributeError, KeyError) as exc:
            raise Resync(f"binding objects lack {chain!r}") from exc
        return obj

    def _prepare_entry(self, parent, scr, safe, node, ch: Change, thunks, problems) -> None:
        key = self.key_string(ch.chain[-1][1])
        if ch.element is None:
            if parent is not None:
                live = getattr(parent, safe)
                thunks.append(lambda: live._members.pop(key, None))
            return
        scratch_list = getattr(scr, safe)
        scratch_list._members.pop(key, None)
        entry = self._entry(scratch_list, node, ch.element, problems)
        scratch_list._members.pop(key, None)
        if entry is None or parent is None:
            return
        live_list = getattr(parent, safe)

        def install() -> None:
            live_list._members[key] = entry
            _reparent(entry, parent)

        thunks.append(install)

    def _prepare_value(self, parent, scr, safe, node, els, thunks, problems) -> None:
        if not els:
            if parent is not None:
                thunks.append(getattr(parent, f"_unset_{safe}"))
            return
        getattr(scr, f"_unset_{safe}")()
        before = len(problems)
        if node.keyword == "leaf":
            self._set_leaf(scr, safe, node, els[0], problems)
        elif node.keyword == "leaf-list":
            self._set_leaf_list(scr, safe, node, els, problems)
        else:
            self._fill(getattr(scr, safe), node, els[0], problems)
            self._mark_present(getattr(scr, safe), node)
        if len(problems) == before and parent is not None:
            value = getattr(scr, safe)
            thunks.append(lambda: _graft(parent, safe, value))

    def _reorder_thunk(self, lst, node: SchemaNode, parent_el) -> Callable[[], None]:
        def reorder() -> None:
            members = lst._members
            for c in parent_el.iterchildren(node.tag):
                k = self.key_string(ident_of(node, c))
                if k in members:
                    members.move_to_end(k)

        return reorder

    # ---------------------------------------------------------------- decoding

    def key_string(self, ident: Ident) -> str:
        """pyangbind's list key: the key values (a tuple for a list), space separated."""
        if not isinstance(ident, tuple):  # only list entries are looked up by key
            raise TypeError(f"not the keys of a list entry: {ident!r}")
        return " ".join(self._plain(v) for v in ident)

    def _plain(self, v) -> str:
        if isinstance(v, tuple):
            module = self.schema.module_of_ns.get(v[0])
            return f"{module}:{v[1]}" if module else v[1]
        return "" if v is None else str(v)

    def value(self, node: SchemaNode, el: etree._Element) -> Any:
        t = node.type
        text = el.text or ""
        if t is None:
            return text
        if t.base == "empty":
            return True
        if t.base == "identityref":
            ident = resolve_qname(el, text)
            return self._plain(ident) if ident is not None else text
        return text

    def _child(self, obj, node: SchemaNode, c, problems, leaflists) -> None:
        safe = safe_name(node.name)
        if safe not in obj._pyangbind_elements:
            self._warn(node)
            return
        kw = node.keyword
        if kw == "leaf":
            self._set_leaf(obj, safe, node, c, problems)
        elif kw == "leaf-list":
            leaflists.setdefault(safe, (node, []))[1].append(c)
        elif kw == "container":
            sub = getattr(obj, safe)
            self._fill(sub, node, c, problems)
            self._mark_present(sub, node)
        elif kw == "list":
            entry = self._entry(getattr(obj, safe), node, c, problems)
            if entry is not None:
                _reparent(entry, obj)

    def _fill(self, obj, snode: SchemaNode, el, problems) -> None:
        leaflists: dict[str, tuple[SchemaNode, list]] = {}
        keys = snode.keys
        for c in el:
            if not isinstance(c.tag, str):
                continue
            node = snode.children.get(split_tag(c.tag))
            if node is None or not node.config or (node.name in keys and node.ns == snode.ns):
                continue
            self._child(obj, node, c, problems, leaflists)
        for safe, (node, els) in leaflists.items():
            self._set_leaf_list(obj, safe, node, els, problems)

    def _entry(self, lst, node: SchemaNode, el, problems):
        kwargs = {}
        for k in node.keys:
            kel = el.find(f"{{{node.ns}}}{k}")
            if kel is None:
                return None  # reported by the validator
            kwargs[k] = self.value(node.children[(node.ns, k)], kel)
        try:
            entry = lst.add(**kwargs) if kwargs else lst[lst.add()]
        except KeyError:  # pyangbind's word for a key already in the list
            path, nsmap = path_of(self.schema, el)
            err = RpcError(
                ErrorTag.DATA_EXISTS,
                "duplicate list entry: the key is already used",
                path=path,
                path_ns=nsmap,
            )
            problems.append(Problem(err, el))
            return None
        except Exception as exc:
            self._bad(problems, node, el, f"list entry {node.name} with keys {kwargs}", exc)
            return None
        self._fill(entry, node, el, problems)
        return entry

    def _set_leaf(self, obj, safe, node: SchemaNode, el, problems) -> None:
        try:
            getattr(obj, f"_set_{safe}")(self.value(node, el))
        except Exception as exc:
            self._bad(problems, node, el, f"{node.name} {el.text or ''!r}", exc)

    def _set_leaf_list(self, obj, safe, node: SchemaNode, els, problems) -> None:
        target = getattr(obj, safe)
        for el in els:
            try:
                target.append(self.value(node, el))
            except Exception as exc:
                self._bad(problems, node, el, f"{node.name} entry {el.text or ''!r}", exc)

    @staticmethod
    def _mark_present(obj, node: SchemaNode) -> None:
        if node.presence:
            with contextlib.suppress(AttributeError):
                obj._set_present()

    def _bad(self, problems, node: SchemaNode, el, what: str, exc: Exception) -> None:
        path, nsmap = path_of(self.schema, el)
        expected = _expected(node)
        if node.keyword == "list":
            expected = ", ".join(
                f"{k}: {_expected(node.children[(node.ns, k)])}" for k in node.keys
            )
        err = RpcError(
            ErrorTag.INVALID_VALUE,
            f"invalid value: {what} does not match {expected}",
            path=path,
            path_ns=nsmap,
            info=[("bad-element", node.name)],
        )
        log.debug("pyangbind rejected %s: %r", path, exc)
        problems.append(Problem(err, el))

    def _warn(self, node: SchemaNode) -> None:
        path = node.schema_path()
        if path not in self._warned:
            self._warned.add(path)
            log.warning("binding classes have no %s; its values get no pyangbind check", path)


def _expected(node: SchemaNode) -> str:
    """What a value of ``node`` should be, for error messages."""
    return node.type.text if node.type is not None else node.keyword
