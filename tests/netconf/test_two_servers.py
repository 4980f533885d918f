"""Two servers in one process, each with its own schema (the orchestrator's northbound
beside agents): each filters and validates with its own model, never the other's.

The two models below deliberately share a namespace and a top-level node but differ in
the list key and in a range, so any schema knowledge shared between servers (a
process-wide registry) would show: a filter would return the wrong key, or an edit
would be judged by the other range.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from ncclient.operations import RPCError
from support.servers import connect

from qnms.netconf.datastore.manager import DatastoreManager

NS = "urn:example:inventory"
MODULE = """module example-inventory {{
  yang-version 1.1;
  namespace "{ns}";
  prefix inv;
  revision 2024-01-01 {{ description "Test."; }}
  container inventory {{
    description "Items.";
    list item {{
      key "{key}";
      description "One item.";
      leaf {key} {{ type string; description "Key."; }}
      leaf size {{ type {size_type}; description "Size."; }}
    }}
  }}
}}
"""


def _datastores(where: Path, *, key: str, size_type: str) -> DatastoreManager:
    where.mkdir()
    text = MODULE.format(ns=NS, key=key, size_type=size_type)
    (where / "example-inventory@2024-01-01.yang").write_text(text)
    return DatastoreManager.for_tests(where)


def _item(key: str, value: str, size: int) -> str:
    return (
        f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><inventory xmlns="{NS}">'
        f"<item><{key}>{value}</{key}><size>{size}</size></item></inventory></config>"
    )


def _sizes_only(port: int) -> etree._Element:
    with connect(port) as m:
        flt = f'<inventory xmlns="{NS}"><item><size/></item></inventory>'
        return m.get_config(source="running", filter=("subtree", flt)).data_ele


def test_two_servers_with_different_schemas_each_filter_and_validate_with_their_own(
    server_factory, tmp_path: Path
) -> None:
    by_name = server_factory(_datastores(tmp_path / "a", key="name", size_type="uint8"))
    by_serial = server_factory(_datastores(tmp_path / "b", key="serial", size_type="uint16"))

    with connect(by_name.port) as m:
        m.edit_config(target="running", config=_item("name", "a1", 5))
        with pytest.raises(RPCError) as err:  # 500 is out of uint8: this server's range
            m.edit_config(target="running", config=_item("name", "a2", 500))
        assert err.value.tag == "invalid-value"
    with connect(by_serial.port) as m:
        m.edit_config(target="running", config=_item("serial", "s1", 500))  # uint16 here

    q = f"{{{NS}}}"
    a = _sizes_only(by_name.port).find(f"{q}inventory/{q}item")
    b = _sizes_only(by_serial.port).find(f"{q}inventory/{q}item")
    # a partial selection of a list entry carries the entry's key (RFC 6241 6.2.5):
    # each server knows its own key
    assert [etree.QName(c).localname for c in a] == ["name", "size"]
    assert [etree.QName(c).localname for c in b] == ["serial", "size"]
    assert b.findtext(f"{q}size") == "500"
