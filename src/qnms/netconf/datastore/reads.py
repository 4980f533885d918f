"""Reading the datastores (RFC 6241 get, get-config): lock-free, from installed trees.

The base of ``DatastoreManager``, kept apart from the writes: an installed tree is never
modified, so a reader takes no lock and sees a whole snapshot, before or after any
edit; only the pyangbind objects, built on demand, are made under the writer lock.
"""

from __future__ import annotations

import copy
import logging
import threading

from lxml import etree

from qnms.netconf.datastore import storage
from qnms.netconf.datastore.checking import Store
from qnms.netconf.datastore.loop_bridge import LoopBridge
from qnms.netconf.datastore.state_memo import StateMemo
from qnms.netconf.interfaces import StableStateProvider, StateProvider
from qnms.yang.bindings import BindingValidator, Roots
from qnms.yang.errors import ErrorTag, ErrorType, RpcError
from qnms.yang.schema import Schema

log = logging.getLogger(__name__)


class StoreReads:
    """The read side of the datastores; ``DatastoreManager`` sets the attributes."""

    schema: Schema
    binder: BindingValidator
    state_provider: StateProvider | None
    _state_memo: StateMemo
    _stores: dict[str, Store]
    _bridge: LoopBridge
    _lock: threading.RLock

    def _store(self, name: str) -> Store:
        store = self._stores.get(name)
        if store is None:
            raise RpcError(
                ErrorTag.INVALID_VALUE,
                f"unknown datastore {name!r}",
                ErrorType.PROTOCOL,
                info=[("bad-element", str(name))],
            )
        return store

    def get_config(self, source: str) -> etree._Element:
        """A private copy of ``source``: lock-free, from the snapshot installed now."""
        return copy.deepcopy(self._store(source).tree)

    def serialized(self, source: str) -> bytes:
        """``source``'s ``<data>`` as UTF-8 XML, written once per installed tree (which
        never changes) and shared by every reply until the next change: a get-config
        of it all costs no copy and no serialisation (issue 13)."""
        return _text(self._store(source))

    def text_of(self, tree: etree._Element) -> bytes:
        """``tree`` as UTF-8 XML: a datastore's installed tree once, the same text its
        journal record holds and its get-configs send (``serialized``)."""
        for store in self._stores.values():
            if store.tree is tree:
                return _text(store)
        return storage.text_of(tree)

    def snapshot(self, source: str) -> etree._Element:
        """The installed tree of ``source`` itself, shared: never modify it."""
        return self._store(source).tree

    def live_state(self) -> list[etree._Element] | None:
        """The state provider's config-false data (None without a provider); call it on
        the thread that owns the provider, which is where its data changes."""
        if self.state_provider is None:
            return None
        provider = self.state_provider
        try:
            if isinstance(provider, StableStateProvider):  # kept merged between reads
                stable = provider.stable_state()
                self._state_memo.stable = tuple(stable)
                return stable + provider.state()
            return provider.state()
        except RpcError:
            raise
        except Exception as exc:
            log.exception("state provider failed")
            raise RpcError(
                ErrorTag.OPERATION_FAILED, f"cannot read operational state: {exc}"
            ) from exc

    def get(self, state: list[etree._Element] | None = None) -> etree._Element:
        """Running merged with the live state: ``state`` when the caller read it already
        (``live_state``, on the provider's thread), else read here."""
        state = self.live_state() if state is None else state
        running = self._stores["running"].tree
        if state is None:
            return copy.deepcopy(running)
        return self._state_memo.merged(running, state)

    def bindings(self, name: str = "running") -> Roots:
        """The pyangbind objects of a datastore, {module name: root object}.

        Treat them as read-only: the datastore changes only through its operations.
        """
        with self._bridge.hold(self._lock):
            store = self._store(name)
            if store.roots is None:
                roots, problems = self.binder.decode(store.tree)
                if problems:
                    log.warning("%s holds values pyangbind rejects: %s", name, problems)
                store.roots = roots
            return store.roots


def _text(store: Store) -> bytes:
    """The text of ``store``'s tree, made once (``Store.text``)."""
    tree, text = store.tree, store.text
    if text is not None and text[0] is tree:
        return text[1]
    data = storage.text_of(tree)
    if store.tree is tree:  # not replaced meanwhile (a reader thread races the loop)
        store.text = (tree, data)
    return data
