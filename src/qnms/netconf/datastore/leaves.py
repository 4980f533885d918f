"""A leaf's new element in the edited tree, from its element in an edit-config.

The tree keeps each value in a form of its own, not the request's: the leaf in its
module's default namespace, an identityref as the schema's prefix and the identity's
name, with the one declaration it needs; a value that holds namespace prefixes (a
QName type, an XPath string such as a NACM rule's path) keeps the declarations of the
prefixes it uses.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable

from lxml import etree

from qnms.yang.errors import ErrorTag, RpcError
from qnms.yang.schema import Schema, SchemaNode
from qnms.yang.tree import resolve_qname, strip_edit_attrs
from qnms.yang.values import has_qnames

_PREFIX = re.compile(r"([A-Za-z_][\w.-]*):(?![/:])")
Where = Callable[[], tuple[str, dict[str, str]]]  # the error-path (and its namespaces)


def leaf_element(schema: Schema, node: SchemaNode, e: etree._Element, where: Where):
    """A fresh element for the value of leaf (or anydata) ``node`` in ``e``; an
    rpc-error at ``where()`` if it cannot be one."""
    if node.keyword in ("anydata", "anyxml"):
        new = etree.Element(node.tag, nsmap=e.nsmap)
        new.text = e.text
        for c in e:
            new.append(strip_edit_attrs(copy.deepcopy(c)))
        return new
    if len(e):
        raise _error(
            ErrorTag.INVALID_VALUE,
            f"{node.keyword} {node.name} must not contain elements",
            where(),
            info=[("bad-element", node.name)],
        )
    tinfo = node.type
    text = e.text or ""
    if tinfo is not None and tinfo.base == "identityref":
        ident = resolve_qname(e, text)
        if ident is None:
            raise _error(
                ErrorTag.INVALID_VALUE,
                f"identityref value {text!r} of {node.name} has an undeclared prefix",
                where(),
                info=[("bad-element", node.name)],
            )
        prefix = schema.prefixes.get(ident[0], "id")
        new = etree.Element(node.tag, nsmap={None: node.ns, prefix: ident[0]})
        new.text = f"{prefix}:{ident[1]}"
        return new
    if tinfo is not None and has_qnames(tinfo):
        new = etree.Element(node.tag, nsmap=e.nsmap)
    elif text and ":" in text and (used := _prefixes_used(text, e.nsmap)):
        # an XPath string (yang:xpath1.0, e.g. a NACM rule's path) keeps its prefixes
        nsmap: dict[str | None, str] = {None: node.ns}
        nsmap.update(used)
        new = etree.Element(node.tag, nsmap=nsmap)
    else:
        new = etree.Element(node.tag, nsmap={None: node.ns})
    new.text = text if text else None
    return new


def _error(tag: ErrorTag, msg: str, where: tuple[str, dict[str, str]], **kw) -> RpcError:
    return RpcError(tag, msg, path=where[0], path_ns=where[1], **kw)


def _prefixes_used(text: str, nsmap: dict) -> dict[str, str]:
    return {p: nsmap[p] for p in _PREFIX.findall(text) if p in nsmap and p is not None}
