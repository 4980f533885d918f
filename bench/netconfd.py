"""The reference server of the NETCONF agent bench: yuma123's netconfd behind OpenSSH.

netconfd (C) serves qnms-quantum-fabric seeded with the same element as our agent. It
is reached through a private sshd (temp host key, temp authorized key, ``Subsystem
netconf netconf-subsystem --ncxserver-sockname=PORT@SOCK``); netconfd itself takes the
bare socket path. Everything listens on 127.0.0.1 only, lives in the caller's temp
directory and is stopped when the context ends. Side effects outside it are yuma123's
``~/.yuma/startup-cfg-txid.txt`` and sshd's /run/sshd when run as root (see
``netconf_agent``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from qnms.yang.catalog import IETF_DIR, YANG_DIR

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
MODULE = "qnms-quantum-fabric"
NETCONFD = "/usr/sbin/netconfd"
SUBSYSTEM = "/usr/sbin/netconf-subsystem"
SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], bool], timeout: float, what: str, proc: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not ready after {timeout:.0f} s")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def stop_process(proc: subprocess.Popen[Any] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def netconfd_server(
    tmp: Path, seed: etree._Element
) -> Iterator[tuple[int, dict[str, Any], list[int]]]:
    """netconfd behind a private sshd; yields (ssh port, ncclient auth arguments, the
    pids of netconfd and sshd, whose descendants serve each connection)."""
    for tool in (NETCONFD, SUBSYSTEM, SSHD, shutil.which("ssh-keygen") or "ssh-keygen"):
        if not Path(tool).exists():
            raise RuntimeError(f"{tool} is not installed")
    user = pwd.getpwuid(os.getuid()).pw_name
    if os.geteuid() == 0 and not Path("/run/sshd").is_dir():
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privsep directory
    for key in ("host_key", "client_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / key)], check=True
        )
    (tmp / "authorized_keys").write_text((tmp / "client_key.pub").read_text())
    port = free_port()
    sock = tmp / "ncxserver.sock"
    (tmp / "sshd_config").write_text(
        f"""ListenAddress 127.0.0.1
Port {port}
HostKey {tmp / "host_key"}
PidFile {tmp / "sshd.pid"}
AuthorizedKeysFile {tmp / "authorized_keys"}
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding no
X11Forwarding no
LogLevel ERROR
Subsystem netconf {SUBSYSTEM} --ncxserver-sockname={port}@{sock}
"""
    )
    startup = etree.Element(f"{{{NC}}}config", nsmap={None: NC})
    for child in seed:
        startup.append(child)
    (tmp / "startup-cfg.xml").write_bytes(etree.tostring(startup, xml_declaration=True))
    netconfd = sshd = None
    try:
        netconfd = subprocess.Popen(
            [
                NETCONFD,
                f"--module={YANG_DIR / (MODULE + '.yang')}",
                f"--modpath={YANG_DIR}:{IETF_DIR}",
                f"--port={port}",
                f"--ncxserver-sockname={sock}",  # the PORT@ prefix is for the subsystem
                f"--startup={tmp / 'startup-cfg.xml'}",  # and where it saves edits
                f"--superuser={user}",  # no NACM rules: let the bench user edit
                "--target=running",
                f"--log={tmp / 'netconfd.log'}",
                "--log-level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(sock.exists, 15, "netconfd", netconfd)
        with open(tmp / "sshd.log", "wb") as log:
            sshd = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(tmp / "sshd_config")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        wait_for(lambda: port_open(port), 10, "sshd", sshd)
        auth = {"username": user, "key_filename": str(tmp / "client_key")}
        yield port, auth, [netconfd.pid, sshd.pid]
    except RuntimeError as exc:
        logs = " | ".join(
            p.read_text(errors="replace").strip()[-300:]
            for p in (tmp / "netconfd.log", tmp / "sshd.log")
            if p.exists() and p.stat().st_size
        )
        raise RuntimeError(f"{exc}{' (' + logs + ')' if logs else ''}") from exc
    finally:
        stop_process(sshd)
        stop_process(netconfd)


def seed_from(m: Any) -> etree._Element:
    """The agent's running configuration, to load netconfd with the same element."""
    data = etree.fromstring(etree.tostring(m.get_config("running").data_ele))
    for nacm in data.findall("{urn:ietf:params:xml:ns:yang:ietf-netconf-acm}nacm"):
        data.remove(nacm)  # the agent's access rules, not the element's data
    return data
