"""Interop with netconf-console2 3.0.1 run as a subprocess, as an operator would."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.servers import PASSWORD, USER, ServerThread

CONSOLE = Path(sys.executable).with_name("netconf-console2")
EX = "urn:example:net"

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not CONSOLE.exists(), reason="netconf-console2 not installed"),
]


def names(text: str) -> list[str]:
    """Node names in the console's output, whatever prefixes the server chose."""
    return re.findall(r"<(?:\w+:)?name>([ab])</(?:\w+:)?name>", text)


def console(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(CONSOLE),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "-u",
        USER,
        "-p",
        PASSWORD,
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)


def test_hello(nc_server: ServerThread) -> None:
    out = console(nc_server.port, "--hello")
    assert out.returncode == 0, out.stderr
    assert "urn:ietf:params:netconf:base:1.1" in out.stdout
    assert "urn:ietf:params:netconf:capability:candidate:1.0" in out.stdout
    assert "module=ietf-netconf-monitoring" in out.stdout


def test_edit_filter_lock_delete(nc_server: ServerThread, tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.xml"
    cfg.write_text(
        f'<network xmlns="{EX}"><name>lab</name>'
        "<node><name>a</name><memory-count>4</memory-count></node>"
        "<node><name>b</name><memory-count>8</memory-count></node></network>"
    )
    out = console(
        nc_server.port,
        "--ns",
        f"en={EX}",
        "--lock",
        "--edit-config",
        str(cfg),
        "--get-config",
        "--filter",
        "/en:network/en:node[en:name='b']",
        "--unlock",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert (
        out.stdout.count('<ok xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"/>') == 3
    )  # lock, edit-config, unlock
    assert names(out.stdout) == ["b"]
    out = console(
        nc_server.port,
        "--ns",
        f"en={EX}",
        "--del-operation",
        "delete",
        "--delete",
        "/en:network/en:node[en:name='b']",
        "--get-config",
        "-x",
        "/en:network/en:node",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert names(out.stdout) == ["a"]


def test_get_schema_and_state(nc_server: ServerThread) -> None:
    out = console(
        nc_server.port,
        "-v",
        "1.0",
        "--get-schema",
        "ietf-netconf-monitoring",
        "--get",
        "-x",
        "/ncm:netconf-state/ncm:statistics",
        "--ns",
        "ncm=urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "module ietf-netconf-monitoring" in out.stdout
    assert "in-sessions" in out.stdout


def test_error_is_reported(nc_server: ServerThread) -> None:
    out = console(nc_server.port, "--kill-session", "9999")
    assert out.returncode != 0
    assert "invalid-value" in out.stdout
