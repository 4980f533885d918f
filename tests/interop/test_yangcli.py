"""Interop with yangcli (Debian yuma123 2.13) driving a QFS agent, as an operator would.

yangcli runs in batch mode against the ``madqci-r1`` agent of the default network:

    yangcli --server=127.0.0.1 --ncport=PORT --user=admin --password=PW --batch-mode
            --run-script=FILE --modpath=yang/:IETF_DIR --timeout=10
            --autohistory=false --autoaliases=false --autouservars=false
            --dump-session=PREFIX

``--modpath`` is needed: yangcli fetches the advertised modules with <get-schema>, but
it resolves their imports only from the hello's module capabilities or its modpath,
and the agent (YANG 1.1 with yang-library 1.1) does not list import-only modules such
as qnms-types in its hello. yangcli never checks SSH host keys (libssh2, no
known_hosts), accepts our Ed25519 key, and finds its ~/.yuma through getpwuid(), so
HOME cannot redirect it. ``--dump-session`` keeps the raw XML yangcli sent, so tests
can check the request as well as what yangcli printed and what the datastore holds.
yangcli exits 0 even when an RPC fails: the tests read its output.

yangcli's own parse errors for ietf-subscribed-notifications (``require-instance`` in
a derived leafref type, YANG 1.1) and the modules importing it are yuma123 limits;
they only stop yangcli from loading those modules.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree
from support.processes import PASSWORD, USER, AgentThread, running_agent

from qnms.network.inventory import Network, load_network
from qnms.yang.catalog import IETF_DIR, YANG_DIR

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("yangcli") is None, reason="yangcli not installed"),
]

QFS = "urn:qnms:yang:qnms-quantum-fabric"
REPLY = re.compile(r"^RPC (OK|Data|Error) Reply \d+ for session \d+:", re.M)


# ----------------------------------------------------------------------- helpers


@dataclass
class Run:
    """What one yangcli run printed and sent."""

    out: str  # stdout + stderr
    sent: str  # raw bytes yangcli sent (--dump-session), hello included

    @property
    def replies(self) -> list[tuple[str, str]]:
        """(kind, text) of each reply in order: kind is OK, Data or Error."""
        heads = list(REPLY.finditer(self.out))
        return [
            (m.group(1), self.out[m.end() : heads[i + 1].start() if i + 1 < len(heads) else None])
            for i, m in enumerate(heads)
        ]

    @property
    def kinds(self) -> list[str]:
        return [k for k, _ in self.replies]


def yangcli(
    agent: AgentThread,
    tmp: Path,
    *commands: str,
    extra: tuple[str, ...] = (),
    modpath: bool = True,
) -> Run:
    """Run yangcli in batch mode; with no commands it only opens a session (hello).

    Batch mode needs a command: without one yangcli 2.13 falls into its line editor and
    aborts (SIGABRT, "ENOTY LINE!") when stdin is not a terminal.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    n = len(list(tmp.glob("run*-out")))
    dump = tmp / f"run{n}-"
    cmd = [
        "yangcli",
        "--server=127.0.0.1",
        f"--ncport={agent.port}",
        f"--user={USER}",
        f"--password={PASSWORD}",
        "--batch-mode",
        *([f"--modpath={YANG_DIR}:{IETF_DIR}"] if modpath else []),
        "--timeout=10",
        "--autohistory=false",
        "--autoaliases=false",
        "--autouservars=false",
        f"--dump-session={dump}",
        *extra,
    ]
    if commands:
        script = tmp / f"script{n}.txt"
        script.write_text("\n".join(commands) + "\n")
        cmd.append(f"--run-script={script}")
    else:
        cmd.append("--run-command=quit")
    proc = subprocess.run(
        cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "NETCONF session established" in out, out
    sent = Path(f"{dump}out").read_text() if Path(f"{dump}out").exists() else ""
    return Run(out, sent)


def block(text: str, header: str) -> dict[str, str]:
    """The leaves directly inside ``header { ... }`` of yangcli's plain output."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == header + " {":
            leaves: dict[str, str] = {}
            depth = 0
            for inner in lines[i + 1 :]:
                s = inner.strip()
                if s == "}":
                    if depth == 0:
                        return leaves
                    depth -= 1
                elif s.endswith("{"):
                    depth += 1
                elif depth == 0 and s:
                    name, _, value = s.partition(" ")
                    leaves[name] = value.strip("'")
            return leaves
    raise AssertionError(f"no block {header!r} in:\n{text}")


def entries(data: etree._Element, path: str, key: str = "name") -> dict[str, dict[str, str]]:
    """{key: {leaf: text}} of the list entries at ``path`` (qfs-relative) in ``data``."""
    steps = "/".join(f"q:{s}" for s in path.split("/"))
    out = {}
    for el in data.xpath(f"q:quantum-fabric/{steps}", namespaces={"q": QFS}):
        leaves = {etree.QName(c).localname: (c.text or "") for c in el if not len(c)}
        out[leaves[key]] = leaves
    return out


def canonical(xml: etree._Element) -> bytes:
    return etree.tostring(xml, method="c14n")


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def network() -> Network:
    return load_network()


@pytest.fixture
def agent(tmp_path: Path, network: Network) -> Iterator[AgentThread]:
    with running_agent(tmp_path / "agent", network=network) as a:
        yield a


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path / "yangcli"


# ------------------------------------------------------------------------- tests


def test_hello(agent: AgentThread, work: Path) -> None:
    before = canonical(agent.running())
    run = yangcli(agent, work)
    assert "Protocol version set to: RFC 6241 (base:1.1)" in run.out
    assert "qnms-quantum-fabric@2026-11-30" in run.out
    assert "Default target set to: <candidate> (<running> also supported)" in run.out
    for cap in ("candidate:1.0", "writable-running:1.0", "startup:1.0", "xpath:1.0"):
        assert f"   {cap}" in run.out
    assert "urn:ietf:params:netconf:base:1.1" in run.sent  # yangcli's own hello
    # the session changed nothing and left no lock behind
    assert canonical(agent.running()) == before
    assert agent.locks() == {}


def test_sget_config_subtree_filter(agent: AgentThread, work: Path) -> None:
    run = yangcli(agent, work, "sget-config /quantum-fabric/memories source=running")
    assert run.kinds == ["Data"]
    text = run.replies[0][1]
    assert re.search(r'<filter\s+type="subtree"', run.sent), run.sent
    assert "quantum-links" not in text and "node {" not in text  # only what was asked
    printed = block(text, "memory mem0")
    held = entries(agent.running(), "memories/memory")["mem0"]
    assert set(printed) == set(held)
    assert int(printed["size"]) == int(held["size"]) == 20
    for leaf in ("coherence-time", "efficiency", "raw-fidelity"):
        assert Decimal(printed[leaf]) == Decimal(held[leaf])


def test_merge_into_candidate_then_commit(agent: AgentThread, work: Path) -> None:
    run = yangcli(
        agent,
        work,
        "merge /quantum-fabric/memories/memory -- name=mem1 size=4 coherence-time=1 "
        "raw-fidelity=0.9",
        "sget-config /quantum-fabric/memories source=candidate",
        "commit",
        "sget-config /quantum-fabric/memories/memory[name='mem1'] source=running",
    )
    assert run.kinds == ["OK", "Data", "OK", "Data"], run.out
    assert re.search(r"<target>\s*<candidate/>\s*</target>", run.sent)
    assert re.search(r"<commit\b", run.sent)
    assert block(run.replies[1][1], "memory mem1")["size"] == "4"
    shown = block(run.replies[3][1], "memory mem1")
    mem1 = entries(agent.running(), "memories/memory")["mem1"]
    assert mem1["size"] == shown["size"] == "4"
    assert Decimal(mem1["coherence-time"]) == Decimal(shown["coherence-time"]) == 1
    assert Decimal(mem1["raw-fidelity"]) == Decimal("0.9")
    assert "efficiency" not in mem1  # defaults are not stored
    assert canonical(agent.candidate()) == canonical(agent.running())


def test_merge_into_running_toggles_link(agent: AgentThread, work: Path) -> None:
    link = "quantum-link[name='f-r1-r2']"
    assert (
        entries(agent.running(), "quantum-links/quantum-link")["f-r1-r2"].get("enabled", "true")
        == "true"
    )
    run = yangcli(
        agent,
        work,
        f"merge /quantum-fabric/quantum-links/{link} -- enabled=false",
        f"sget-config /quantum-fabric/quantum-links/{link} source=running",
        extra=("--force-target=running",),
    )
    assert run.kinds == ["OK", "Data"], run.out
    assert re.search(r"<target>\s*<running/>\s*</target>", run.sent)
    assert block(run.replies[1][1], "quantum-link f-r1-r2")["enabled"] == "false"
    links = entries(agent.running(), "quantum-links/quantum-link")
    assert links["f-r1-r2"]["enabled"] == "false"
    assert links["f-alice-r1"].get("enabled", "true") == "true"  # only that entry changed


def test_delete_then_commit(agent: AgentThread, work: Path) -> None:
    yangcli(
        agent,
        work,
        "merge /quantum-fabric/memories/memory -- name=spare size=2 coherence-time=0.5 "
        "raw-fidelity=0.8",
        "commit",
    )
    assert "spare" in entries(agent.running(), "memories/memory")
    run = yangcli(
        agent,
        work,
        "delete /quantum-fabric/memories/memory[name='spare']",
        "commit",
        "sget-config /quantum-fabric/memories source=running",
    )
    assert run.kinds == ["OK", "OK", "Data"], run.out
    assert 'operation="delete"' in run.sent
    assert "memory spare" not in run.replies[2][1]
    assert block(run.replies[2][1], "memory mem0")["name"] == "mem0"
    assert set(entries(agent.running(), "memories/memory")) == {"mem0"}


def test_commit_of_dangling_leafref_is_rejected(agent: AgentThread, work: Path) -> None:
    """mem0 is the local-memory of every link: deleting it must fail at commit."""
    before = canonical(agent.running())
    run = yangcli(agent, work, "delete /quantum-fabric/memories/memory[name='mem0']", "commit")
    assert run.kinds == ["OK", "Error"], run.out
    error = run.replies[1][1]
    assert "error-tag data-missing" in error
    assert "error-app-tag instance-required" in error
    assert "local-memory" in error
    assert "canceled" in run.out  # yangcli stops the script at the error
    assert canonical(agent.running()) == before


def test_lock_unlock(agent: AgentThread, work: Path) -> None:
    from ncclient import manager

    holder = manager.connect(
        host="127.0.0.1",
        port=agent.port,
        username=USER,
        password=PASSWORD,
        hostkey_verify=False,
        look_for_keys=False,
        allow_agent=False,
    )
    try:
        holder.lock("running")
        denied = yangcli(agent, work, "lock target=running")
        assert denied.kinds == ["Error"], denied.out
        assert "error-tag lock-denied" in denied.out
        assert re.search(rf"session-id {holder.session_id}\b", denied.out), denied.out
        assert agent.locks() == {"running": int(holder.session_id)}
        holder.unlock("running")
    finally:
        holder.close_session()

    run = yangcli(
        agent,
        work,
        "lock target=running",
        "lock target=candidate",
        "merge /quantum-fabric/memories/memory[name='mem0'] -- efficiency=0.5",
        "commit",
        "unlock target=candidate",
        "unlock target=running",
    )
    assert run.kinds == ["OK"] * 6, run.out
    assert len(re.findall(r"<lock\b", run.sent)) == len(re.findall(r"<unlock\b", run.sent)) == 2
    assert agent.locks() == {}
    assert Decimal(entries(agent.running(), "memories/memory")["mem0"]["efficiency"]) == Decimal(
        "0.5"
    )


def _schema_text(reply: str) -> str:
    start = reply.index("data '") + len("data '")
    end = reply.rindex("'")
    return reply[start:end]


@pytest.mark.parametrize(
    ("module", "revision"), [("qnms-quantum-fabric", "2026-11-30"), ("qnms-types", "2026-11-26")]
)
def test_get_schema(agent: AgentThread, work: Path, module: str, revision: str) -> None:
    """Both the implemented module and an import-only one are served."""
    before = canonical(agent.running())
    run = yangcli(agent, work, f"get-schema identifier={module} version={revision} format=yang")
    assert run.kinds == ["Data"], run.out
    assert f"<identifier>{module}</identifier>" in run.sent
    printed = _schema_text(run.replies[0][1])
    source = (YANG_DIR / f"{module}.yang").read_text()
    assert printed.split() == source.split()  # the text, whatever yangcli does to blank lines
    assert canonical(agent.running()) == before


def test_xget_config_unprefixed_xpath(agent: AgentThread, work: Path) -> None:
    """Unprefixed names match in any module, as in netconfd (filters.any_namespace_names)."""
    run = yangcli(agent, work, "xget-config /quantum-fabric/memories source=running")
    assert 'select="/quantum-fabric/memories"' in run.sent
    assert run.kinds == ["Data"]
    assert (
        block(run.replies[0][1], "memory mem0")["size"]
        == entries(agent.running(), "memories/memory")["mem0"]["size"]
    )


def test_autoload_without_modpath(agent: AgentThread, work: Path) -> None:
    """The hello lists import-only modules too, so yangcli fetches them by get-schema."""
    run = yangcli(agent, work, "sget-config /quantum-fabric/memories source=running", modpath=False)
    assert "import of module 'qnms-types' failed" not in run.out
    assert run.kinds == ["Data"], run.out
    assert block(run.replies[0][1], "memory mem0")["name"] == "mem0"
