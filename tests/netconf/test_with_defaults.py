"""RFC 6243 :with-defaults on get, get-config and copy-config (basic mode explicit)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from support.servers import PASSWORD, USER, ServerThread, connect

from qnms.netconf.protocol.with_defaults import (
    CAPABILITY,
    DEFAULT_ATTR,
    apply_mode,
)
from qnms.yang.schema_compile import compile_schema

EX = "urn:example:net"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
ADMIN = f"{{{EX}}}admin-state"
CONSOLE = Path(sys.executable).with_name("netconf-console2")


def config(admin_state: str | None = None) -> str:
    admin = f"<admin-state>{admin_state}</admin-state>" if admin_state else ""
    return (
        f'<config xmlns="{NC}"><network xmlns="{EX}"><name>lab</name>{admin}'
        "<node><name>a</name><memory-count>4</memory-count></node>"
        "<policy><name>p1</name></policy></network></config>"
    )


def admin_states(data: etree._Element) -> list[tuple[str | None, str | None]]:
    return [(e.text, e.get(DEFAULT_ATTR)) for e in data.iter(ADMIN)]


@pytest.fixture
def server(nc_server: ServerThread) -> ServerThread:
    with connect(nc_server.port) as m:
        m.edit_config(target="running", config=config())
    return nc_server


def test_with_defaults_capability_names_basic_mode_explicit(server: ServerThread) -> None:
    with connect(server.port) as m:
        assert CAPABILITY in list(m.server_capabilities)
        lib = m.get(filter=("xpath", "/yang-library/module-set/module/name")).data_ele
        assert "ietf-netconf-with-defaults" in [e.text for e in lib.iter("{*}name")]
        assert "ietf-netconf-with-defaults" in m.get_schema("ietf-netconf-with-defaults").data


def test_with_defaults_modes_on_an_unset_leaf(server: ServerThread) -> None:
    with connect(server.port) as m:
        assert admin_states(m.get_config("running").data_ele) == []
        assert admin_states(m.get_config("running", with_defaults="explicit").data_ele) == []
        assert admin_states(m.get_config("running", with_defaults="trim").data_ele) == []
        everything = m.get_config("running", with_defaults="report-all").data_ele
        assert admin_states(everything) == [("up", None)]
        tagged = m.get_config("running", with_defaults="report-all-tagged").data_ele
        assert admin_states(tagged) == [("up", "true")]
        actions = [e.text for e in everything.iter(f"{{{EX}}}action")]
        assert actions == ["permit"]  # in list entries too
        assert admin_states(m.get(with_defaults="report-all").data_ele) == [("up", None)]


def test_with_defaults_modes_on_a_leaf_set_to_its_default(server: ServerThread) -> None:
    with connect(server.port) as m:
        m.edit_config(target="running", config=config("up"))
        assert admin_states(m.get_config("running").data_ele) == [("up", None)]
        assert admin_states(m.get_config("running", with_defaults="trim").data_ele) == []
        tagged = m.get_config("running", with_defaults="report-all-tagged").data_ele
        assert admin_states(tagged) == [("up", "true")]
        m.edit_config(target="running", config=config("down"))
        for mode in ("trim", "report-all", "report-all-tagged", "explicit"):
            got = admin_states(m.get_config("running", with_defaults=mode).data_ele)
            assert got == [("down", None)], mode


def test_filter_selects_default_nodes_under_report_all(server: ServerThread) -> None:
    sub = f'<network xmlns="{EX}"><admin-state/></network>'
    with connect(server.port) as m:
        assert admin_states(m.get_config("running", filter=("subtree", sub)).data_ele) == []
        got = m.get_config("running", filter=("subtree", sub), with_defaults="report-all")
        assert admin_states(got.data_ele) == [("up", None)]


def test_copy_config_with_report_all_writes_defaults_into_the_target(
    server: ServerThread,
) -> None:
    wd = "urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults"
    rpc = (
        f'<copy-config xmlns="{NC}"><target><startup/></target><source><running/></source>'
        f'<with-defaults xmlns="{wd}">report-all</with-defaults></copy-config>'
    )
    with connect(server.port) as m:
        m.dispatch(etree.fromstring(rpc))
        assert admin_states(m.get_config("startup").data_ele) == [("up", None)]


@pytest.mark.interop
@pytest.mark.skipif(not CONSOLE.exists(), reason="netconf-console2 not installed")
def test_netconf_console_reads_with_report_all_tagged(server: ServerThread) -> None:
    import subprocess

    cmd = [str(CONSOLE), "--host", "127.0.0.1", "--port", str(server.port), "-u", USER,
           "-p", PASSWORD, "--get-config", "--with-defaults", "report-all-tagged"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    reply = etree.fromstring(out.stdout.encode())
    assert admin_states(reply) == [("up", "true")]


YANG = """module wd-test {
  yang-version 1.1; namespace "urn:wd-test"; prefix w;
  container top {
    leaf plain { type string; default "p"; }
    container inner { leaf depth { type uint8; default "3"; } }
    container opt { presence "optional"; leaf level { type uint8; default "1"; } }
    choice medium {
      default wire;
      case wire { leaf gauge { type uint8; default "12"; } }
      case air { leaf band { type string; default "2g"; } leaf ssid { type string; } }
    }
    leaf-list colour { type string; default "red"; default "blue"; }
  }
}
"""


def _tree(schema: Any, body: str) -> etree._Element:
    data = etree.fromstring(f'<data xmlns="{NC}"><top xmlns="urn:wd-test">{body}</top></data>')
    apply_mode(schema, data, "report-all", config_only=True)
    return data


def test_report_all_follows_choices_and_containers(tmp_path: Path) -> None:
    (tmp_path / "wd-test.yang").write_text(YANG)
    schema = compile_schema([tmp_path / "wd-test.yang"])

    def names(data: etree._Element) -> list[str]:
        return [f"{etree.QName(e).localname}={e.text}" for e in data.iter() if e.text]

    unchosen = names(_tree(schema, ""))
    assert sorted(unchosen) == ["colour=blue", "colour=red", "depth=3", "gauge=12", "plain=p"]
    air = names(_tree(schema, "<ssid>lab</ssid><colour>green</colour>"))
    assert sorted(air) == ["band=2g", "colour=green", "depth=3", "plain=p", "ssid=lab"]
    opt = names(_tree(schema, "<opt/>"))
    assert "level=1" in opt


def test_edit_config_accepts_wd_default_only_on_default_values(server: ServerThread) -> None:
    from ncclient.operations import RPCError

    wd = 'xmlns:wd="urn:ietf:params:xml:ns:netconf:default:1.0"'
    with connect(server.port) as m:
        tagged = m.get_config("running", with_defaults="report-all-tagged").data_ele
        tagged.tag = f"{{{NC}}}config"
        m.edit_config(target="running", config=tagged)  # report-all-tagged output, sent back
        everything = m.get_config("running", with_defaults="report-all").data_ele
        assert admin_states(everything) == [("up", None)]
        bad = (
            f'<config xmlns="{NC}"><network xmlns="{EX}" {wd}>'
            '<admin-state wd:default="true">down</admin-state></network></config>'
        )
        with pytest.raises(RPCError) as exc:
            m.edit_config(target="running", config=bad)
        assert exc.value.tag == "invalid-value"
        everything = m.get_config("running", with_defaults="report-all").data_ele
        assert admin_states(everything) == [("up", None)]
