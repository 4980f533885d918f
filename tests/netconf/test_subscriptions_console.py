"""netconf-console2 as an operator's subscriber: RFC 5277 create-subscription."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.polling import wait_until
from support.servers import PASSWORD, USER, ServerThread, connect

CONSOLE = Path(sys.executable).with_name("netconf-console2")
EX = "urn:example:net"
NCN = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
CONFIG = (
    f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><network xmlns="{EX}">'
    "<node><name>a</name><memory-count>4</memory-count></node></network></config>"
)

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not CONSOLE.exists(), reason="netconf-console2 not installed"),
]


def test_create_subscription_receives_config_changes(nc_server: ServerThread) -> None:
    cmd = [str(CONSOLE), "--host", "127.0.0.1", "--port", str(nc_server.port), "-u", USER,
           "-p", PASSWORD, "--create-subscription", "NETCONF", "--sleep", "1.5"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stream = nc_server.server.hub.streams["NETCONF"]
        assert wait_until(lambda: stream.subscribers), "netconf-console2 did not subscribe"
        with connect(nc_server.port, user="oper", password="oper-pw") as m:
            m.edit_config(target="running", config=CONFIG)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    assert "netconf-config-change" in out and NCN in out
    assert "<username>oper</username>" in out.replace("ncn:", "")
    assert "<operation>create</operation>" in out
