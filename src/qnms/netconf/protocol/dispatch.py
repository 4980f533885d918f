"""Which handler answers an operation, and the error when none does (RFC 6241 4.2).

The registry is generic in the session type and imports nothing of the session: the
session's ``ServerCore`` holds an ``OperationRegistry[NetconfSession]``, and the
handlers, which do know the session, import this module and the session both, so no
module imports one that imports it back. Agents and protocol extensions (RFC 8639,
RFC 6243) add or wrap operations through ``register`` and ``handler``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from lxml import etree

from qnms.yang.errors import ErrorTag, ErrorType, RpcError

Reply = list[etree._Element | bytes] | None
"""A handler's answer: the reply's children, or None for ``<ok/>``. A child may come
already serialised (UTF-8, no XML declaration): an unchanged datastore's ``<data>`` is
written once and reused by every reply (``StoreReads.serialized``)."""

type Handler[S] = Callable[[S, etree._Element], Reply | Awaitable[Reply]]


class OperationRegistry[S]:
    """Maps (namespace, operation name) to a handler taking a session of type ``S``."""

    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str], Handler[S]] = {}
        # Called before every known operation (RFC 8341 3.4.4); raises to deny.
        self.guard: Callable[[S, etree._Element], None] | None = None

    def register(self, namespace: str, name: str, handler: Handler[S]) -> None:
        self._handlers[(namespace, name)] = handler

    def handler(self, namespace: str, name: str) -> Handler[S] | None:
        """The current handler, so an extension (RFC 6243) can wrap it."""
        return self._handlers.get((namespace, name))

    def dispatch(
        self, session: S, op: etree._Element, served: Iterable[str] = ()
    ) -> Reply | Awaitable[Reply]:
        """The handler's answer to ``op``; an operation nobody handles is refused as
        ``operation-not-supported`` when its namespace is one the server knows (its
        handlers' or one of the ``served`` module namespaces), else ``unknown-namespace``."""
        qn = etree.QName(op)
        handler = self._handlers.get((qn.namespace or "", qn.localname))
        if handler is not None:
            if self.guard is not None:
                self.guard(session, op)
            return handler(session, op)
        known = {ns for ns, _ in self._handlers}
        known.update(served)
        bad_element = ("bad-element", qn.localname)
        if qn.namespace in known:
            raise RpcError(
                ErrorTag.OPERATION_NOT_SUPPORTED,
                f"operation {qn.localname!r} is not supported",
                type=ErrorType.PROTOCOL,
                info=[bad_element],
            )
        raise RpcError(
            ErrorTag.UNKNOWN_NAMESPACE,
            f"operation {qn.localname!r} is in an unknown namespace",
            type=ErrorType.PROTOCOL,
            info=[bad_element, ("bad-namespace", qn.namespace or "")],
        )
