"""The console's copy of what a user's YANG-Push subscriptions select (RFC 8641).

An on-change receiver keeps a replica of its selection: the ``push-update`` that opens
a subscription (and any later resync) replaces the subscribed top-level node whole, and
each ``push-change-update`` applies its RFC 8072 yang-patch edit by edit. The replica is
XML (what NETCONF carries), so that any part of it can be re-encoded as RFC 7951 JSON
with the project's codec and the schema: the page and the JSON API show the same YANG
data the northbound serves, in the standard JSON encoding.

Targets are RFC 8040 paths (``/module:top/list=key1,key2/leaf``) relative to the
datastore root, as the northbound's server writes them (qnms.netconf.push.yang_patch).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from lxml import etree

from qnms.yang.codec import NC_DATA, xml_to_json
from qnms.yang.schema import Schema, SchemaNode

YP = "urn:ietf:params:xml:ns:yang:ietf-yang-push"
_YP = f"{{{YP}}}"


class PatchError(ValueError):
    """An edit whose target the schema does not know: the replica is out of step with
    the server and must be resynchronised (RFC 8641 resync-subscription)."""


def _steps(target: str) -> list[tuple[str, str, list[str] | None]]:
    """``/m:a/b=k1,k2/c`` as (module or "", name, key values or None) per step."""
    out = []
    for raw in target.strip("/").split("/"):
        if not raw:
            continue
        head, eq, keys = raw.partition("=")
        module, _, name = head.rpartition(":")
        out.append((module, name, [unquote(k) for k in keys.split(",")] if eq else None))
    return out


class Replica:
    """Top-level data nodes (``service-units``, ``networks``) kept up to date by pushes."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._ns = {m.name: m.namespace for m in schema.modules}
        self._module_of = {ns: name for name, ns in self._ns.items()}
        # every module's name declared as its prefix: identityrefs are pinned to them
        self.data = etree.Element(NC_DATA, nsmap=dict(self._ns))

    # -- whole top-level nodes (a <get> reply, a push-update) ---------------------------

    def load(self, top: str, contents: etree._Element) -> None:
        """Replace top-level node ``top`` (Clark tag) with its copy in ``contents`` (the
        children of a ``<data>`` or ``datastore-contents``); absent there: now empty."""
        for old in self.data.findall(top):
            self.data.remove(old)
        for new in contents.findall(top):
            root = self.schema.roots.get(_key(new))
            if root is not None:
                self._pin(new, root)
            self.data.append(new)

    def _pin(self, el: etree._Element, node: SchemaNode) -> None:
        """Rewrite the identityrefs under ``el`` (still in its own tree) as
        ``module:identity``, a prefix the replica's root declares: moving a node keeps
        the namespaces of its tags, but lxml may drop a declaration that only text uses
        (``qt:end-node``), and the server declares namespaces once at the top."""
        if node.keyword in ("leaf", "leaf-list"):
            if node.type is not None and node.type.base == "identityref" and el.text:
                prefix, _, ident = el.text.strip().rpartition(":")
                module = self._module_of.get(el.nsmap.get(prefix or None, ""), "")
                if module:
                    el.text = f"{module}:{ident}"
            return
        for child_el in el:
            if isinstance(child_el.tag, str):
                child = node.children.get(_key(child_el))
                if child is not None:
                    self._pin(child_el, child)

    # -- RFC 8072 edits ----------------------------------------------------------------

    def patch(self, yang_patch: etree._Element) -> set[str]:
        """Apply every edit of a yang-patch; returns the top-level tags it touched."""
        touched = set()
        for edit in yang_patch.iter(f"{_YP}edit"):
            op = edit.findtext(f"{_YP}operation") or ""
            target = edit.findtext(f"{_YP}target") or "/"
            value = edit.find(f"{_YP}value")
            touched |= self._apply(op, target, value)
        return touched

    def _apply(self, op: str, target: str, value: etree._Element | None) -> set[str]:
        steps = _steps(target)
        if not steps:  # the whole selection replaced
            tops = {c.tag for c in (value if value is not None else []) if isinstance(c.tag, str)}
            for tag in tops:
                self.load(tag, value)  # type: ignore[arg-type]  # not None when tops
            return tops
        parent, node = self.data, None
        module = ""
        for i, (mod, name, keys) in enumerate(steps):
            module = mod or module
            child = self.schema.child(node, (self._ns.get(module, ""), name))
            if child is None:
                raise PatchError(f"{target}: unknown node {name}")
            matches = [e for e in parent.iterchildren(child.tag) if _matches(child, e, keys)]
            last = i == len(steps) - 1
            if last:
                for e in matches:
                    parent.remove(e)
                if op in ("create", "replace", "merge") and value is not None:
                    for new in value.iterchildren(child.tag):
                        self._pin(new, child)
                        parent.append(new)
            elif matches:
                parent = matches[0]
            elif op == "delete":
                break  # nothing there to delete
            else:
                parent = _make(parent, child, keys)
            node = child
        return {f"{{{self._ns.get(steps[0][0], '')}}}{steps[0][1]}"}

    # -- RFC 7951 ------------------------------------------------------------------------

    def json(self, top: str) -> dict[str, Any]:
        """Top-level node ``top`` as an RFC 7951 document (``{"module:name": {...}}``)."""
        wrapper = etree.Element(NC_DATA, nsmap=self.data.nsmap)
        nodes = self.data.findall(top)
        try:
            wrapper.extend(nodes)  # moved out for the encoding, then back
            return xml_to_json(wrapper, self.schema)
        finally:
            self.data.extend(nodes)


def _key(el: etree._Element) -> tuple[str, str]:
    qn = etree.QName(el)
    return (qn.namespace or "", qn.localname)


def _matches(node: SchemaNode, el: etree._Element, keys: list[str] | None) -> bool:
    if keys is None:
        return True
    if node.keyword == "leaf-list":
        return (el.text or "").strip() == keys[0]
    return [(el.findtext(f"{{{node.ns}}}{k}") or "").strip() for k in node.keys] == keys


def _make(parent: etree._Element, node: SchemaNode, keys: list[str] | None) -> etree._Element:
    """A missing interior node on the way to a created one (a list entry with its keys)."""
    el = etree.SubElement(parent, node.tag)
    for k, v in zip(node.keys, keys or [], strict=False):
        etree.SubElement(el, f"{{{node.ns}}}{k}").text = v
    return el
