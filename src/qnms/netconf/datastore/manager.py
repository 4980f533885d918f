"""The NETCONF datastores (RFC 6241): running, candidate and startup.

Each datastore is an lxml ``<data>`` tree plus, for running always and for the others
on demand, the pyangbind objects of the same content. Trees are never modified once
installed: an edit works on a copy, which is validated and then swapped in (so a
failed edit changes nothing, and a clean candidate can share running's tree). The
pyangbind objects are updated by grafting objects decoded from just the changed
subtrees (see ``qnms.yang.bindings``).

A candidate without uncommitted edits follows running (edits of running show in it);
once edited it is left alone until commit or discard-changes.

Concurrency (issue 9): one writer, any number of readers. A writer holds ``_lock``
from check to apply, possibly in a worker thread; readers take no lock (an installed
tree is never modified, so a reader sees a whole snapshot, before or after an edit)
and the lock table has its own mutex. After ``bind_loop``, write checks and listeners
run on the loop's thread (``loop_bridge``) even for an edit applied in a worker.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lxml import etree

from qnms.netconf.datastore import memory, storage
from qnms.netconf.datastore.checking import Checker, Store, Thunks, dedupe, raise_problems
from qnms.netconf.datastore.durability import Durability, restore_running
from qnms.netconf.datastore.edit import apply_edit
from qnms.netconf.datastore.gc_pause import without_gc
from qnms.netconf.datastore.loading import load_stores
from qnms.netconf.datastore.locks import LockTable
from qnms.netconf.datastore.loop_bridge import LoopBridge
from qnms.netconf.datastore.reads import StoreReads
from qnms.netconf.datastore.state_memo import StateMemo
from qnms.netconf.datastore.storage import DatastoreError
from qnms.netconf.interfaces import ChangeListener, StateProvider
from qnms.yang.bindings import BindingValidator
from qnms.yang.changes import ConfigChange
from qnms.yang.diff import AnyChange, diff, published
from qnms.yang.errors import ErrorTag, ErrorType, RpcError
from qnms.yang.schema import Schema
from qnms.yang.schema_cache import cached_schema
from qnms.yang.tree import as_data_tree, new_data
from qnms.yang.validation import validate_tree

log = logging.getLogger(__name__)
WriteCheck = Callable[[str, etree._Element, etree._Element, int], None]
"""(datastore, old tree, new tree, session id), called before ``new`` replaces ``old``:
raise RpcError to refuse the write, and nothing changes. Applications built on the core
(the orchestrator's admission control) put their semantic checks here, after the schema
checks, so a refusal is an rpc-error on the edit itself."""
NAMES = ("running", "candidate", "startup")
ROLLBACK = "confirmed-commit-rollback"  # state file of a pending confirmed commit
_P = ErrorType.PROTOCOL


class DatastoreManager(StoreReads):
    """Implements ``qnms.netconf.interfaces.Datastores`` over the given YANG modules.

    ``modules`` are YANG file paths (imports resolved from their directories and
    ``search_dirs``) or an already loaded ``Schema``. ``bindings`` maps module names
    to pyangbind root classes (see ``bindings.binding_classes``); modules without one
    get pyang's value checks instead. ``state_dir`` (None: in memory) holds
    ``running.xml`` with its journal and ``startup.xml`` (see ``storage``);
    ``initial`` (see ``as_data_tree``) seeds running when neither exists.
    ``lazy_bindings`` checks loaded values with pyang and builds the (slow) pyangbind
    objects only when ``bindings()`` is called.
    """

    def __init__(
        self,
        modules: Sequence[str | Path] | Schema,
        *,
        state_dir: str | Path | None = None,
        initial: Any = None,
        state_provider: StateProvider | None = None,
        bindings: Mapping[str, type] | None = None,
        search_dirs: Sequence[str | Path] = (),
        features: Mapping[str, Iterable[str]] | None = None,
        lazy_bindings: bool = False,
    ) -> None:
        if isinstance(modules, Schema):
            self.schema = modules
        else:
            self.schema = cached_schema(modules, search_dirs=search_dirs, features=features)
        self.modules = list(self.schema.modules)
        self.binder = BindingValidator(self.schema, bindings)
        self._checker = Checker(self.schema, self.binder)
        self.state_provider = state_provider
        self._state_memo = StateMemo(self.schema)
        self._stores: dict[str, Store] = {}  # by load_stores below, which saves through...
        self._files = storage.StateFiles(state_dir, text=self.text_of)  # ...the stores' texts
        self._lock = threading.RLock()  # the writer lock: check-to-apply of one change
        self._bridge = LoopBridge()
        self._locks = LockTable()
        self._dirty = False  # candidate differs from running by uncommitted edits
        self._durability = Durability(self._files, self._restore)  # running's group commit
        self._listeners: list[ChangeListener] = []
        # Checks every write must pass after the schema checks, in order: NACM write
        # access (qnms.netconf.protocol.access), an application's own admission (the
        # orchestrator's). Server-internal writes (session 0) are checked too; a check
        # decides what session 0 may do.
        self.write_checks: list[WriteCheck] = []
        self._stores = load_stores(
            self._files, self.schema, self.binder, initial, lazy=lazy_bindings
        )

    @classmethod
    def for_tests(cls, directory: str | Path, **kwargs: Any) -> DatastoreManager:
        """An in-memory manager over every ``*.yang`` file in ``directory``."""
        return cls(sorted(Path(directory).glob("*.yang")), **kwargs)

    def _check_write(self, name: str, old: etree._Element, new: etree._Element, sid: int) -> None:
        for check in list(self.write_checks):
            self._bridge.call(functools.partial(check, name, old, new, sid), wait=True)

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run write checks and listeners on ``loop``'s thread (call from that thread)."""
        self._bridge.bind(loop)

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: ChangeListener) -> None:
        self._listeners.remove(listener)

    # ---------------------------------------------------------------- checking

    def _install(
        self,
        name: str,
        tree: etree._Element,
        thunks: Thunks,
        changes: Sequence[AnyChange],
        sid: int,
        durable: bool = True,
    ) -> list[ConfigChange]:
        """Make ``tree`` the content of ``name``; the published changes (made once, for
        the listeners and the caller's reply alike)."""
        store = self._stores[name]
        public = published(self.schema, changes)
        if name != "candidate":
            self._durability.save(name, tree, store.tree, sid, durable)
        store.tree, store.checked = tree, True
        memory.after_change(self._bridge.later, changes)
        try:
            for thunk in thunks:
                thunk()
        except Exception:
            log.exception("binding update failed; objects will be rebuilt")
            store.roots = None
        if name == "candidate":
            self._dirty = self._dirty or bool(changes)
        elif name == "running":
            self._state_memo.forget()  # its trees are of the replaced running
            if not self._dirty:  # a candidate without edits of its own follows running
                cand = self._stores["candidate"]
                if cand.tree is not tree:
                    cand.tree, cand.roots, cand.checked = tree, None, True
            self._notify(public, sid)
        return public

    def _notify(self, public: list[ConfigChange], sid: int) -> None:
        if not public:
            return
        public = list(public)  # the listeners' own list: the caller keeps its copy
        listeners = list(self._listeners)

        def call() -> None:
            for listener in listeners:
                try:
                    listener(public, sid)
                except Exception:
                    log.exception("change listener %r failed", listener)

        self._bridge.call(call, wait=False)

    # ------------------------------------------------------------------ edits

    @without_gc  # a big edit's objects churn the collector (gc_pause)
    def edit_config(
        self,
        target: str,
        config: etree._Element,
        *,
        session_id: int,
        default_operation: str = "merge",
        test_option: str = "test-then-set",
        error_option: str = "stop-on-error",
        durable: bool = True,
        adopt: bool = False,
    ) -> list[ConfigChange]:
        """RFC 6241 7.2. ``durable`` False: an edit of running waits for ``sync`` to be
        made durable (group commit; the caller must call it before acknowledging).
        ``adopt``: ``config`` is consumed (see ``apply_edit``)."""
        if test_option not in ("test-then-set", "set", "test-only"):
            raise RpcError(ErrorTag.INVALID_VALUE, f"bad test-option {test_option!r}", _P)
        if error_option not in ("stop-on-error", "continue-on-error", "rollback-on-error"):
            raise RpcError(ErrorTag.INVALID_VALUE, f"bad error-option {error_option!r}", _P)
        with self._bridge.hold(self._lock):
            if target == "startup":
                raise RpcError(
                    ErrorTag.OPERATION_NOT_SUPPORTED,
                    "edit-config targets running or candidate; use copy-config for startup",
                    _P,
                )
            store = self._store(target)
            self._locks.check(target, session_id)
            work = copy.deepcopy(store.tree)
            keep_going = error_option == "continue-on-error"
            semantic = not (test_option == "set" and target == "candidate")
            changes, errors = apply_edit(
                self.schema,
                work,
                config,
                default_operation=default_operation,
                continue_on_error=keep_going,
                adopt=adopt,
            )
            if keep_going:
                work, changes, errors, thunks = self._checker.salvage(store, work, errors, semantic)
            else:
                thunks, problems = self._checker.check(store, work, changes, semantic=semantic)
                if problems:
                    raise_problems(problems)
            if changes:  # test-only edits are checked too: they must tell the truth
                self._check_write(target, store.tree, work, session_id)
            public: list[ConfigChange] = []
            if test_option != "test-only" and changes:
                public = self._install(target, work, thunks, changes, session_id, durable)
            if errors:
                raise_problems(errors)
            return public

    def copy_config(self, target: str, source: Any, *, session_id: int) -> None:
        with self._bridge.hold(self._lock):
            store = self._store(target)
            self._locks.check(target, session_id)
            if isinstance(source, str):
                if source == target:
                    raise RpcError(
                        ErrorTag.INVALID_VALUE, "source and target are the same datastore", _P
                    )
                src = self._store(source)
                tree, trusted = src.tree, src.checked
            else:
                tree, trusted = as_data_tree(self.schema, source), False
            changes = diff(self.schema, store.tree, tree)
            if store.checked:  # unchanged parts were checked when they entered the target
                thunks, problems = self._checker.check(
                    store, tree, changes, values=not trusted, full=not trusted
                )
            else:  # nothing can be trusted: check every node
                everything = diff(self.schema, new_data(), tree)
                thunks, problems = self._checker.check(
                    Store(new_data()), tree, everything, full=True
                )
                thunks, store.roots = [], None
            if problems:
                raise_problems(problems)
            if changes:
                self._check_write(target, store.tree, tree, session_id)
            self._install(target, tree, thunks, changes, session_id)
            if target == "candidate":
                self._dirty = tree is not self._stores["running"].tree

    def delete_config(self, target: str, *, session_id: int) -> None:
        with self._bridge.hold(self._lock):
            if target == "running":
                raise RpcError(
                    ErrorTag.OPERATION_NOT_SUPPORTED, "the running datastore cannot be deleted", _P
                )
            store = self._store(target)
            self._locks.check(target, session_id)
            if target == "startup":
                self._files.save("startup", None)
            else:
                self._dirty = True
            store.tree, store.roots, store.checked = new_data(), self.binder.new_roots(), True

    def validate(self, source: Any) -> None:
        with self._bridge.hold(self._lock):
            if isinstance(source, str):
                store = self._store(source)
                tree, checked = store.tree, store.checked
            else:
                store, tree, checked = None, as_data_tree(self.schema, source), False
            problems = validate_tree(
                self.schema,
                tree,
                typed=[] if checked else None,
                deep_modules=self.binder.unbound,
            )
            if not checked:
                roots, more = self.binder.decode(tree)
                problems = dedupe(problems + more)
                if store is not None and not more:
                    store.roots, store.checked = roots, True
            if problems:
                raise_problems(problems)

    def commit(self, *, session_id: int) -> list[ConfigChange]:
        with self._bridge.hold(self._lock):
            self._locks.check("running", session_id)
            self._locks.check("candidate", session_id)
            cand, run = self._stores["candidate"], self._stores["running"]
            if cand.tree is run.tree:
                self._dirty = False
                return []
            changes = diff(self.schema, run.tree, cand.tree)
            thunks, problems = self._checker.check(run, cand.tree, changes, values=not cand.checked)
            if problems:
                raise_problems(problems)
            if changes:  # a refused commit keeps the candidate's edits
                self._check_write("running", run.tree, cand.tree, session_id)
            self._dirty = False
            return self._install("running", cand.tree, thunks, changes, session_id)

    def sync(self, session_id: int) -> None:
        """Make every edit of running so far durable (one fsync for all of them) before
        ``session_id`` answers or notifies; ``RpcError`` if this session's edit was
        lost, or this fsync failed (running is then back at its last durable tree)."""
        if self._durability.settled:
            return
        with self._bridge.hold(self._lock):
            self._durability.sync(session_id)

    def _restore(self, durable: etree._Element) -> None:
        """Running back to ``durable`` after a failed group fsync (the journal holds it
        already): the server's own change, heard by the listeners."""
        self._notify(restore_running(self.schema, self._stores, durable, not self._dirty), 0)

    # ---------------------------------------------- RFC 6241 8.4 confirmed commit

    def revert_running(self, tree: etree._Element, *, session_id: int) -> list[ConfigChange]:
        """Put back an earlier content of running (a confirmed commit that was not
        confirmed). The server does it, so locks do not apply; the content was valid
        when it was running, so it is not checked again. Listeners hear of the change."""
        with self._bridge.hold(self._lock):
            run = self._stores["running"]
            changes = diff(self.schema, run.tree, tree)
            if not changes:
                return []
            run.roots = None  # rebuilt on demand from the restored tree
            return self._install("running", copy.deepcopy(tree), [], changes, session_id)

    def load_rollback(self) -> etree._Element | None:
        """The running content an unconfirmed commit must return to, if one is pending."""
        with self._bridge.hold(self._lock):
            return self._files.load(ROLLBACK)

    def save_rollback(self, tree: etree._Element | None) -> None:
        """Keep (None: forget) what running returns to if a confirmed commit is not
        confirmed, so that a restart in between reverts it (RFC 6241 8.4.1)."""
        with self._bridge.hold(self._lock):
            self._files.save(ROLLBACK, tree)

    def discard_changes(self, *, session_id: int) -> None:
        with self._bridge.hold(self._lock):
            self._locks.check("candidate", session_id)
            self._discard()

    def _discard(self) -> None:
        cand = self._stores["candidate"]
        cand.tree, cand.roots, cand.checked = self._stores["running"].tree, None, True
        self._dirty = False

    # ------------------------------------------------------------------ locks

    def lock(self, target: str, *, session_id: int) -> None:
        self._store(target)
        self._locks.lock(target, session_id, modified=target == "candidate" and self._dirty)

    def unlock(self, target: str, *, session_id: int) -> None:
        self._store(target)
        self._locks.unlock(target, session_id)

    def release_session(self, session_id: int) -> None:
        with self._bridge.hold(self._lock):
            self._durability.release(session_id)  # its edits: durable now, or undone
            if "candidate" in self._locks.release(session_id):
                self._discard()

    def locks(self) -> dict[str, int]:
        """Current lock holders {datastore: session id} (for ietf-netconf-monitoring)."""
        return self._locks.holders()


__all__ = ["DatastoreError", "DatastoreManager", "as_data_tree"]
