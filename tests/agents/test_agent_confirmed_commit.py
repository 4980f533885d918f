"""Confirmed commits (RFC 6241 8.4) and with-defaults (RFC 6243) on QFS, CS and SS agents,
with ncclient and netconf-console2 as an operator would use them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree
from support.agents import CS, PASSWORD, QFS, SS, USER, connect
from support.polling import wait_until

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
WD_ATTR = "{urn:ietf:params:xml:ns:netconf:default:1.0}default"
CONSOLE = Path(sys.executable).with_name("netconf-console2")
# A new list entry per stratum, and where its key shows up in get-config.
ENTRIES = {
    "qfs": (
        ("madqci-r1", QFS, "memory"),
        f'<quantum-fabric xmlns="{QFS}"><memories><memory><name>cc-test</name><size>2</size>'
        "<coherence-time>1</coherence-time><raw-fidelity>0.9</raw-fidelity></memory>"
        "</memories></quantum-fabric>",
    ),
    "cs": (
        ("madqci", CS, "channel"),
        f'<connectivity xmlns="{CS}"><channels><channel><name>cc-test</name>'
        "<node-a>madqci-r1</node-a><node-b>madqci-r2</node-b><length-km>1</length-km>"
        "</channel></channels></connectivity>",
    ),
    "ss": (
        ("madqci-bob", SS, "route"),
        f'<service-stratum xmlns="{SS}"><key-forwarding><route><destination>cc-test'
        "</destination><service-unit>static</service-unit><next-hop>madqci-r1</next-hop>"
        "</route></key-forwarding>"
        "</service-stratum>",
    ),
}


def has_entry(m, stratum: str) -> bool:
    (_, ns, entry), _ = ENTRIES[stratum]
    data = m.get_config("running").data_ele
    return any(k.text == "cc-test" for e in data.iter(f"{{{ns}}}{entry}") for k in e[:1] if len(e))


def edit_candidate(m, stratum: str) -> None:
    m.edit_config(target="candidate", config=f'<config xmlns="{NC}">{ENTRIES[stratum][1]}</config>')


@pytest.mark.slow
@pytest.mark.parametrize("stratum", ["qfs", "cs", "ss"])
def test_agent_confirmed_commit_reverts_when_timeout_expires(start_agent, stratum):
    agent = start_agent(stratum, ENTRIES[stratum][0][0])
    with connect(agent) as m:
        edit_candidate(m, stratum)
        m.commit(confirmed=True, timeout="1")
        assert has_entry(m, stratum)
        assert wait_until(lambda: not has_entry(m, stratum))
    with connect(agent) as m:
        assert not has_entry(m, stratum)


@pytest.mark.parametrize("stratum", ["qfs", "cs", "ss"])
def test_agent_persistent_confirmed_commit_confirmed_from_another_session(start_agent, stratum):
    agent = start_agent(stratum, ENTRIES[stratum][0][0])
    with connect(agent) as m:
        edit_candidate(m, stratum)
        m.commit(confirmed=True, timeout="60", persist="orchestrator-tx-1")
        first = int(m.session_id)
    with connect(agent) as other:
        # the server has ended the first session (its close hooks ran) ...
        assert wait_until(lambda: first not in agent.server.sessions)
        assert has_entry(other, stratum)  # ... and the persistent commit survived it
        other.commit(persist_id="orchestrator-tx-1")
        assert has_entry(other, stratum)


def test_agent_restart_reverts_an_unconfirmed_commit(start_agent, bg, tmp_path):
    state = tmp_path / "qfs-state"
    agent = start_agent("qfs", "madqci-r1", state_dir=state)
    with connect(agent) as m:
        edit_candidate(m, "qfs")
        m.commit(confirmed=True, timeout="600", persist="survives-sessions")
        assert has_entry(m, "qfs")
    bg.run(agent.stop())  # persist: the end of the session did not revert it
    restarted = start_agent("qfs", "madqci-r1", state_dir=state)
    with connect(restarted) as m:
        assert not has_entry(m, "qfs")
        assert m.get_config("running").data_ele is not None


needs_console = pytest.mark.skipif(not CONSOLE.exists(), reason="netconf-console2 not installed")


def console(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(CONSOLE), "--host", "127.0.0.1", "--port", str(port), "-u", USER, "-p", PASSWORD]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.interop
@needs_console
def test_netconf_console_confirmed_commit_reverts_when_its_session_ends(start_agent, tmp_path):
    agent = start_agent("qfs", "madqci-r1")
    edit = tmp_path / "memory.xml"
    edit.write_text(ENTRIES["qfs"][1])
    out = console(agent.port, "--db", "candidate", "--edit-config", str(edit),
                  "--commit", "confirmed", "--timeout", "60", "--get-config")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "cc-test" in out.stdout  # committed while the session lived
    with connect(agent) as m:
        assert wait_until(lambda: not has_entry(m, "qfs"))  # not confirmed: reverted


@pytest.mark.slow
@pytest.mark.interop
@needs_console
def test_netconf_console_confirms_a_persistent_commit_with_persist_id(start_agent, tmp_path):
    agent = start_agent("qfs", "madqci-r1")
    with connect(agent) as m:
        edit_candidate(m, "qfs")
        m.commit(confirmed=True, timeout="60", persist="tok")
    rpc = tmp_path / "confirm.xml"
    rpc.write_text(f'<commit xmlns="{NC}"><persist-id>tok</persist-id></commit>')
    out = console(agent.port, "--rpc", str(rpc))
    assert out.returncode == 0 and "<ok/>" in out.stdout.replace(" ", ""), out.stdout + out.stderr
    rpc.write_text(f'<cancel-commit xmlns="{NC}"><persist-id>tok</persist-id></cancel-commit>')
    out = console(agent.port, "--rpc", str(rpc))
    assert "operation-failed" in out.stdout  # confirmed already: nothing left to cancel
    with connect(agent) as m:
        assert has_entry(m, "qfs")


def links(data: etree._Element) -> list[dict[str, tuple[str | None, str | None]]]:
    out = []
    for link in data.iter(f"{{{QFS}}}quantum-link"):
        out.append({etree.QName(c).localname: (c.text, c.get(WD_ATTR)) for c in link})
    return out


def test_agent_with_defaults_modes_on_quantum_links(start_agent):
    agent = start_agent("qfs", "madqci-r1")
    sub = ("subtree", f'<quantum-fabric xmlns="{QFS}"><quantum-links/></quantum-fabric>')
    with connect(agent) as m:
        explicit = links(m.get_config("running", filter=sub).data_ele)
        assert explicit and all("enabled" not in e for e in explicit)
        tagged = links(
            m.get_config("running", filter=sub, with_defaults="report-all-tagged").data_ele
        )
        for link in tagged:
            assert link["enabled"] == ("true", "true")
            text, tag = link["technology"]
            assert text is not None and text.endswith(":fibre") and tag == "true"
        trimmed = links(m.get(filter=sub, with_defaults="trim").data_ele)
        assert all("technology" not in e and "enabled" not in e for e in trimmed)


@pytest.mark.interop
@pytest.mark.skipif(shutil.which("yanglint") is None, reason="needs yanglint")
@pytest.mark.parametrize("stratum", ["qfs", "cs", "ss"])
def test_agent_report_all_is_valid_configuration(start_agent, tmp_path, stratum):
    from qnms.yang.catalog import IETF_DIR, STRATUM_MODULES, YANG_DIR

    (name, ns, _), _ = ENTRIES[stratum]
    agent = start_agent(stratum, name)
    with connect(agent) as m:
        data = m.get_config("running", with_defaults="report-all").data_ele
    (top,) = [el for el in data if etree.QName(el).namespace == ns]
    out = tmp_path / "config.xml"
    out.write_bytes(etree.tostring(top))
    files = [YANG_DIR / "qnms-types.yang", YANG_DIR / f"{STRATUM_MODULES[stratum]}.yang"]
    cmd = ["yanglint", "-p", str(YANG_DIR), "-p", str(IETF_DIR), "-t", "config", *map(str, files)]
    result = subprocess.run([*cmd, str(out)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
