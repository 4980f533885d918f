"""RFC 7951 JSON <-> RFC 7950 XML encoding of instance data, driven by the schema index.

Network files are JSON (RFC 7951); NETCONF speaks XML. The two encodings differ in
ways only the schema can settle: which members are lists (JSON arrays of objects) or
leaf-lists, which leaves are identityrefs (``module:identity`` in JSON, a prefixed
QName with a namespace declaration in XML), where the namespace changes (a
module-qualified member name in JSON), and that list keys come first in XML.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from qnms.yang.schema import Schema, SchemaNode

NC_DATA = "{urn:ietf:params:xml:ns:netconf:base:1.0}data"


class CodecError(ValueError):
    """The data does not fit the schema; the message names the path."""


def _module_ns(schema: Schema) -> dict[str, str]:
    return {m.name: m.namespace for m in schema.modules}


def _ns_module(schema: Schema) -> dict[str, str]:
    return {m.namespace: m.name for m in schema.modules}


# ------------------------------------------------------------------ JSON -> XML


def json_to_xml(data: dict[str, Any], schema: Schema) -> etree._Element:
    """Encode a JSON instance document as a NETCONF ``<data>`` element."""
    mod_ns = _module_ns(schema)
    root = etree.Element(NC_DATA, nsmap={None: NC_DATA[1:].split("}")[0]})
    for member, value in data.items():
        module, _, name = member.partition(":")
        if not name or module not in mod_ns:
            raise CodecError(f"/{member}: top-level members must be module-qualified")
        node = schema.roots.get((mod_ns[module], name))
        if node is None:
            raise CodecError(f"/{member}: no such top-level node in module {module}")
        _encode(root, node, value, f"/{member}", mod_ns)
    return root


def _encode(
    parent: etree._Element, node: SchemaNode, value: Any, path: str, mod_ns: dict[str, str]
) -> None:
    if node.keyword == "list":
        if not isinstance(value, list):
            raise CodecError(f"{path}: a list is encoded as an array")
        for entry in value:
            if not isinstance(entry, dict):
                raise CodecError(f"{path}: a list entry is encoded as an object")
            el = etree.SubElement(parent, node.tag, nsmap=_own_ns(parent, node))
            ordered = [k for k in node.keys if k in entry] + [
                k for k in entry if k not in node.keys
            ]
            _encode_members(el, node, {k: entry[k] for k in ordered}, path, mod_ns)
    elif node.keyword == "leaf-list":
        if not isinstance(value, list):
            raise CodecError(f"{path}: a leaf-list is encoded as an array")
        for item in value:
            _leaf(parent, node, item, path, mod_ns)
    elif node.keyword == "leaf":
        _leaf(parent, node, value, path, mod_ns)
    elif node.keyword in ("anydata", "anyxml"):
        raise CodecError(f"{path}: {node.keyword} is not supported in JSON input")
    else:
        if not isinstance(value, dict):
            raise CodecError(f"{path}: a container is encoded as an object")
        el = etree.SubElement(parent, node.tag, nsmap=_own_ns(parent, node))
        _encode_members(el, node, value, path, mod_ns)


def _own_ns(parent: etree._Element, node: SchemaNode) -> dict[str | None, str] | None:
    return None if parent.nsmap.get(None) == node.ns else {None: node.ns}


def _encode_members(
    el: etree._Element, node: SchemaNode, members: dict[str, Any], path: str, mod_ns: dict
) -> None:
    for member, value in members.items():
        module, _, name = member.rpartition(":")
        ns = mod_ns.get(module, "") if module else node.ns
        child = node.children.get((ns, name))
        if child is None:
            raise CodecError(f"{path}/{member}: not in the model")
        _encode(el, child, value, f"{path}/{member}", mod_ns)


def _leaf(
    parent: etree._Element, node: SchemaNode, value: Any, path: str, mod_ns: dict[str, str]
) -> None:
    nsmap = _own_ns(parent, node) or {}
    base = node.type.base if node.type else "string"
    text: str | None
    if base == "empty":
        text = None
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif base == "identityref" and isinstance(value, str):
        module, _, ident = value.rpartition(":")
        module = module or node.module
        if module not in mod_ns:
            raise CodecError(f"{path}: unknown module {module!r} in identity {value!r}")
        nsmap = {**nsmap, module: mod_ns[module]}
        text = f"{module}:{ident}"
    elif value is None:
        raise CodecError(f"{path}: null is only valid for type empty")
    else:
        text = str(value)
    etree.SubElement(parent, node.tag, nsmap=nsmap or None).text = text


# ------------------------------------------------------------------ XML -> JSON


def xml_to_json(data: etree._Element, schema: Schema) -> dict[str, Any]:
    """Decode a ``<data>`` (or any element whose children are top-level nodes)."""
    ns_mod = _ns_module(schema)
    out: dict[str, Any] = {}
    for el in data:
        if not isinstance(el.tag, str):
            continue
        qn = etree.QName(el)
        node = schema.roots.get((qn.namespace or "", qn.localname))
        if node is None:
            raise CodecError(f"/{qn.localname}: no such top-level node")
        out[f"{ns_mod[node.ns]}:{node.name}"] = _decode(el, node, ns_mod)
    return out


def _decode(el: etree._Element, node: SchemaNode, ns_mod: dict[str, str]) -> Any:
    if node.keyword in ("leaf", "leaf-list"):
        return _scalar(el, node, ns_mod)
    obj: dict[str, Any] = {}
    for child_el in el:
        if not isinstance(child_el.tag, str):
            continue
        qn = etree.QName(child_el)
        child = node.children.get((qn.namespace or "", qn.localname))
        if child is None:
            raise CodecError(f"{node.schema_path()}: unknown child {qn.localname}")
        name = child.name if child.ns == node.ns else f"{ns_mod[child.ns]}:{child.name}"
        value = _decode(child_el, child, ns_mod)
        if child.is_list_like:
            obj.setdefault(name, []).append(value)
        else:
            obj[name] = value
    return obj


_INT64 = frozenset({"int64", "uint64"})
_NUMBERS = frozenset({"int8", "int16", "int32", "uint8", "uint16", "uint32"})


def _scalar(el: etree._Element, node: SchemaNode, ns_mod: dict[str, str]) -> Any:
    text = el.text or ""
    base = node.type.base if node.type else "string"
    if base == "empty":
        return [None]
    if base == "boolean":
        return text.strip() == "true"
    if base in _NUMBERS:
        return int(text)
    if base == "identityref":
        prefix, _, ident = text.strip().rpartition(":")
        ns = el.nsmap.get(prefix or None, node.ns)
        return f"{ns_mod.get(ns, prefix)}:{ident}"
    return text
