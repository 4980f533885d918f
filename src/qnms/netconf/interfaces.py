"""The seams of the NETCONF core: what the protocol layer asks of the layers below.

The protocol side (framing, sessions, the SSH server, RPC dispatch) speaks RFC 6241;
the datastore side (running / candidate / startup, edit-config semantics, locks,
validation against the YANG models, persistence) owns the data. An agent plugs in its
stratum's modules and its live (config false) state. Nothing here knows of quantum.

All data crosses these seams as lxml elements in their YANG namespaces: a *data tree*
is a ``<data xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">`` element (RFC 6241
``<data>``) whose children are the top-level data nodes of the served modules.
Every failure is raised as ``qnms.yang.errors.RpcError`` (or ``RpcErrors``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol, runtime_checkable

from lxml import etree

from qnms.yang.changes import ConfigChange
from qnms.yang.schema_types import YangModule

DatastoreName = Literal["running", "candidate", "startup"]
DefaultOperation = Literal["merge", "replace", "none"]
TestOption = Literal["test-then-set", "set", "test-only"]
ErrorOption = Literal["stop-on-error", "continue-on-error", "rollback-on-error"]


ChangeListener = Callable[[list[ConfigChange], int], None]
"""Called after a change to running is applied: (changes, session_id)."""


class StateProvider(Protocol):
    """An agent's live, config-false data, merged into ``<get>`` replies."""

    def state(self) -> list[etree._Element]:
        """Top-level data nodes (with only config-false descendants where needed)."""
        ...


@runtime_checkable
class StableStateProvider(StateProvider, Protocol):
    """A provider with a part of its state that changes rarely (issue 13: 20,000 links).

    ``stable_state`` returns the very same element objects again for as long as their
    content is unchanged, and never modifies an element once returned: the datastore
    keeps their merge with running between reads (``datastore.state_memo``). ``state``
    returns the rest; a ``<get>`` merges ``stable_state()`` and then ``state()``.
    """

    def stable_state(self) -> list[etree._Element]: ...


class Datastores(Protocol):
    """What the RPC layer calls. Implemented by ``qnms.netconf.datastore.manager``."""

    modules: list[YangModule]

    def get_config(self, source: DatastoreName) -> etree._Element:
        """A copy of the whole config tree of ``source`` as ``<data>``."""
        ...

    def live_state(self) -> list[etree._Element] | None:
        """The live, config-false state, read on the thread that owns it."""
        ...

    def get(self, state: list[etree._Element] | None = None) -> etree._Element:
        """Running config merged with the live state (``state``, or read now), as
        ``<data>``."""
        ...

    def edit_config(
        self,
        target: DatastoreName,
        config: etree._Element,
        *,
        session_id: int,
        default_operation: DefaultOperation = "merge",
        test_option: TestOption = "test-then-set",
        error_option: ErrorOption = "stop-on-error",
        durable: bool = True,
        adopt: bool = False,
    ) -> list[ConfigChange]:
        """Apply the ``<config>`` element; all-or-nothing unless continue-on-error.
        ``durable`` False: an edit of running is made durable by the next ``sync``.
        ``adopt``: ``config`` is the callee's to consume (its elements may be moved)."""
        ...

    def sync(self, session_id: int) -> None:
        """Make every change so far durable before ``session_id`` answers or notifies;
        raise ``RpcError`` if that session's change could not be (it is undone)."""
        ...

    def copy_config(
        self,
        target: DatastoreName,
        source: DatastoreName | etree._Element,
        *,
        session_id: int,
    ) -> None: ...

    def delete_config(self, target: DatastoreName, *, session_id: int) -> None: ...

    def validate(self, source: DatastoreName | etree._Element) -> None: ...

    def commit(self, *, session_id: int) -> list[ConfigChange]: ...

    def discard_changes(self, *, session_id: int) -> None: ...

    def lock(self, target: DatastoreName, *, session_id: int) -> None: ...

    def unlock(self, target: DatastoreName, *, session_id: int) -> None: ...

    def release_session(self, session_id: int) -> None:
        """Drop the locks of a closed or killed session (RFC 6241 7.5)."""
        ...

    def locks(self) -> dict[str, int]:
        """Current lock holders, {datastore: session id} (for netconf-monitoring)."""
        ...

    def add_listener(self, listener: ChangeListener) -> None:
        """Be told of every change applied to running (RFC 6470 notifications)."""
        ...
