"""The SSH side of the NETCONF server (RFC 6242): host key, authentication, channels.

Only the ``netconf`` subsystem is offered: no shell, no exec, no pty, no forwarding.
Everyone authenticates (a password, or a key of that very user: ``auth``). The Ed25519
host key is created once in the state directory and reused, so clients that pinned it
keep trusting the restarted server. Each channel is the ``Transport`` of one
``NetconfSession``, which the server (an ``SSHHost``) creates.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import asyncssh
from asyncssh.constants import MSG_IGNORE
from asyncssh.packet import SSHPacketLogger, String

from qnms.netconf.datastore.storage import private_dir
from qnms.netconf.protocol.auth import Backoff
from qnms.netconf.protocol.limits import Admission, SessionSlots
from qnms.netconf.protocol.options import ServerOptions
from qnms.netconf.protocol.session import NetconfSession, Transport

log = logging.getLogger(__name__)

HOST_KEY_NAME = "ssh_host_ed25519_key"
# Ciphers offered, AES-GCM first (RFC 5647, OpenSSH's @openssh.com names), then AES-CTR
# (RFC 4344) for clients without GCM (paramiko/ncclient picks it). chacha20-poly1305 is
# not offered: a client's first choice wins and asyncssh and OpenSSH list it first, but
# asyncssh builds it from three cipher objects per packet (~50 us for 3 KB, AES-GCM
# ~9 us here), which made SSH a third of a 500-agent process's push-update cost.
ENCRYPTION_ALGS = (
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)
# asyncssh (2.24) puts an empty SSH_MSG_IGNORE in front of every packet it encrypts: the
# countermeasure of RFC 4251 section 9.3.1 against the chosen-plaintext attack on CBC,
# whose next IV is the last block sent. None of ENCRYPTION_ALGS is CBC (GCM and CTR draw a
# fresh nonce or counter per packet, RFC 5647 / RFC 4344), so that packet protects
# nothing and doubles the packets, encryptions and send() calls of every reply, on both
# ends: ~5% of ncclient's round trips (bench/netconf_agent.py).
_CBC_IGNORE = (String(b""),)
# Below the smallest maximum packet size clients offer (OpenSSH, paramiko and asyncssh:
# 32 KiB), a message goes out as one SSH_MSG_CHANNEL_DATA packet.
_ONE_PACKET = 16 * 1024


def without_cbc_ignore(conn: asyncssh.SSHServerConnection) -> None:
    """Stop ``conn`` sending the empty SSH_MSG_IGNORE it sends before each packet.

    asyncssh sends it through the connection's own ``send_packet``, so an instance
    attribute in front of it sees it: only that packet is dropped, every other one
    (including a non-empty SSH_MSG_IGNORE) goes through unchanged.
    """
    send_packet = conn.send_packet

    def send(pkttype: int, *args: bytes, handler: SSHPacketLogger | None = None) -> None:
        if pkttype == MSG_IGNORE and args == _CBC_IGNORE:
            return
        send_packet(pkttype, *args, handler=handler)

    setattr(conn, "send_packet", send)  # noqa: B010 - an instance attribute, on purpose


def after_each_read(conn: asyncssh.SSHServerConnection, done: Callable[[], None]) -> None:
    """Call ``done`` each time ``conn`` has handled one read of its socket: every SSH
    packet in it decoded and its channel data delivered. Requests that came together are
    then answered together (``NetconfSession.read_done``). asyncio hands each read to
    the protocol's ``data_received``, looked up on the instance: an instance attribute
    in front of asyncssh's method sees every read."""
    data_received = conn.data_received

    def received(data: bytes) -> None:
        try:
            data_received(data)
        finally:
            done()

    setattr(conn, "data_received", received)  # noqa: B010 - an instance attribute, on purpose


class SSHHost(Protocol):
    """What the SSH layer needs of the server (``ProtocolServer``): its options and
    credentials, its admission and back-off, the open connections (closed on stop),
    and a new session for each netconf channel."""

    @property
    def options(self) -> ServerOptions: ...

    @property
    def slots(self) -> SessionSlots: ...

    @property
    def backoff(self) -> Backoff: ...

    @property
    def connections(self) -> set[asyncssh.SSHServerConnection]: ...

    @property
    def user_keys(self) -> dict[str, asyncssh.SSHAuthorizedKeys]: ...

    def new_session(
        self, username: str, source_host: str, transport: Transport
    ) -> NetconfSession: ...


def load_host_key(state_dir: Path) -> asyncssh.SSHKey:
    """The server's Ed25519 key: created (mode 0600) on first start, reused after."""
    path = state_dir / HOST_KEY_NAME
    if path.exists():
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return asyncssh.read_private_key(path)
    private_dir(state_dir)
    key = asyncssh.generate_private_key("ssh-ed25519")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.export_private_key())
    (state_dir / (HOST_KEY_NAME + ".pub")).write_bytes(key.export_public_key())
    log.info("generated SSH host key %s", path)
    return key


class SSHConnection(asyncssh.SSHServer):
    """Authentication and channel admission for one SSH connection."""

    def __init__(self, server: SSHHost) -> None:
        self._server = server
        self._conn: asyncssh.SSHServerConnection | None = None
        self._admission = Admission(server.slots)
        self._channels: list[SSHChannel] = []  # told when a read of the socket is handled

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        without_cbc_ignore(conn)
        after_each_read(conn, self._read_done)
        self._server.connections.add(conn)
        self._admission.accept(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._server.connections.discard(self._conn)
        self._channels.clear()
        self._admission.lost()

    def _read_done(self) -> None:
        for channel in list(self._channels):
            channel.read_done()

    def begin_auth(self, username: str) -> bool:
        keys = self._server.user_keys.get(username)
        if keys is not None and self._conn is not None:
            self._conn.set_authorized_keys(keys)  # this user's keys only
        return True  # always authenticate: no anonymous access

    def password_auth_supported(self) -> bool:
        return bool(self._server.options.users)

    async def validate_password(self, username: str, password: str) -> bool:
        users = self._server.options.users
        peer = self._admission.peer
        return await self._server.backoff.check_password(users, username, password, peer)

    def public_key_auth_supported(self) -> bool:
        return bool(self._server.user_keys)

    def kbdint_auth_supported(self) -> bool:
        return False

    def session_requested(self) -> asyncssh.SSHServerSession | bool:
        user = (self._conn.get_extra_info("username") if self._conn else "") or ""
        done = self._admission.open_channel(user)
        if done is None:
            return False
        channel = SSHChannel(self._server, lambda: self._closed(channel, done))
        self._channels.append(channel)
        return channel

    def _closed(self, channel: SSHChannel, done: Callable[[], None]) -> None:
        if channel in self._channels:
            self._channels.remove(channel)
        done()


class SSHChannel(asyncssh.SSHServerSession):
    """One SSH channel carrying the netconf subsystem; bridges bytes to the session."""

    def __init__(self, server: SSHHost, done: Callable[[], None]) -> None:
        self._server = server
        self._chan: asyncssh.SSHServerChannel | None = None
        self._sock: socket.socket | None = None  # TCP (Linux): corked around a write
        self._session: NetconfSession | None = None
        self._done: Callable[[], None] | None = done

    # Transport protocol used by NetconfSession
    def write(self, data: bytes) -> None:
        """One message (or batch) to the client. asyncssh sends each SSH packet in its
        own send(): a message of several packets is corked, so it leaves in full TCP
        segments and the client wakes once per reply, not once per packet. A message
        under ``_ONE_PACKET`` is one packet, one send(): corking it would only add
        two setsockopt calls."""
        chan = self._chan
        if chan is None or chan.is_closing():
            return
        sock = self._sock
        if sock is None or len(data) < _ONE_PACKET:
            chan.write(data)
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        try:
            chan.write(data)
        finally:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)

    def close(self) -> None:
        if self._chan is not None:
            self._chan.close()

    def pause_reading(self) -> None:
        if self._chan is not None:
            self._chan.pause_reading()

    def resume_reading(self) -> None:
        if self._chan is not None:
            self._chan.resume_reading()

    # asyncssh callbacks
    def connection_made(self, chan: asyncssh.SSHServerChannel) -> None:
        self._chan = chan
        sock = chan.get_extra_info("socket")
        corkable = sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6)
        self._sock = sock if corkable and hasattr(socket, "TCP_CORK") else None

    def pty_requested(self, term_type: str, term_size: object, term_modes: object) -> bool:
        return False

    def shell_requested(self) -> bool:
        return False

    def exec_requested(self, command: str) -> bool:
        return False

    def subsystem_requested(self, subsystem: str) -> bool:
        return subsystem == "netconf"

    def session_started(self) -> None:
        assert self._chan is not None
        username = self._chan.get_extra_info("username") or ""
        peer = self._chan.get_extra_info("peername") or ("", 0)
        self._session = self._server.new_session(username, str(peer[0]), self)
        log.info("session %d: %s from %s started", self._session.session_id, username, peer[0])
        self._session.start()

    def data_received(self, data: bytes, datatype: int | None) -> None:
        if self._session is not None and datatype is None:
            self._session.data_received(data)

    def read_done(self) -> None:
        if self._session is not None:
            self._session.read_done()

    def eof_received(self) -> bool:
        if self._session is not None:
            self._session.connection_lost()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._session is not None:
            self._session.connection_lost()
        if self._done is not None:
            self._done()
            self._done = None

    def pause_writing(self) -> None:
        if self._session is not None:
            self._session.pause_writing()

    def resume_writing(self) -> None:
        if self._session is not None:
            self._session.resume_writing()
