"""Service-unit identifiers: N endpoint URNs plus one lifecycle URN (seed 5.3.1, 5.3.2).

A service unit is a shared state (a key, or N-partite entanglement) between N >= 2
application endpoints. The seed identifies it with N+1 URNs:

* one per endpoint, whose q-component carries a nonce that tells this pairing apart from
  every other pairing of the same applications (``urn:qkd:madqci:ccips?=nonce=177923``);
* one lifecycle URN, last, whose q-component carries the lifecycle parameters
  (``urn:qkd:lifecycle?=size=256&valid-until=1750708945``; for entanglement also
  ``fidelity`` and whatever other parameters experiments show are needed).

The identifier is not directional: it has no source or destination, so two identifiers
with the same endpoints in a different order are the same identifier (equal, same hash).
The only directional fact, which application asked for the service unit (the
originator), is part of the establishment record kept by the orchestrator, never of the
identifier, so that both ends compute and compare the same identity.

Everything here is pure: no clock, no I/O. Whether ``valid-until`` has passed is a
lifecycle decision for the orchestrator, not a syntax question.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Self

from qnms.service.urn import Urn, UrnError

__all__ = [
    "FIDELITY",
    "LIFECYCLE",
    "NONCE",
    "SIZE",
    "VALID_UNTIL",
    "IdentifierError",
    "LifecycleValues",
    "ServiceUnitId",
    "new_nonce",
]

LIFECYCLE = "lifecycle"
"""First NSS segment of the lifecycle URN (``urn:<nid>:lifecycle``)."""
NONCE = "nonce"
SIZE = "size"
VALID_UNTIL = "valid-until"
FIDELITY = "fidelity"

_MIN_ENDPOINTS = 2
_DIGITS_RE = re.compile(r"[0-9]+")
_DECIMAL_RE = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
# 18-digit nonces: about 60 bits of entropy, and every value fits a YANG uint64 / int64.
_NONCE_LOW, _NONCE_SPAN = 10**17, 9 * 10**17

type ParamValue = str | int | float | Decimal


class IdentifierError(ValueError):
    """A service-unit identifier that is malformed; ``field`` names the part at fault.

    ``field`` is a path such as ``"urns"``, ``"urns[2]"``, ``"endpoints[1]"``,
    ``"lifecycle"``, ``"lifecycle.size"`` or ``"nonces"``, so a NETCONF layer can turn
    it into an ``error-path`` / ``bad-element`` without parsing the message.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def new_nonce() -> str:
    """A fresh decimal nonce from ``secrets`` (the seed's example nonces are decimal)."""
    return str(_NONCE_LOW + secrets.randbelow(_NONCE_SPAN))


def _is_lifecycle(urn: Urn) -> bool:
    return urn.nss.split(":", 1)[0] == LIFECYCLE


def _format_value(field: str, value: ParamValue) -> str:
    """Render a lifecycle parameter value as the plain decimal text the URN carries."""
    if isinstance(value, bool):
        # bool is an int subclass; True as "size" is a bug, not 1.
        raise IdentifierError(field, f"must be text or a number, not {value!r}")
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # repr gives the shortest round-tripping digits; "f" avoids exponent notation.
        return format(Decimal(repr(value)), "f")
    if isinstance(value, Decimal):
        return format(value, "f")
    raise IdentifierError(field, f"must be text or a number, not {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class LifecycleValues:
    """The typed lifecycle parameters every service unit must carry (and fidelity)."""

    size: int
    valid_until: int
    fidelity: Decimal | None


def _lifecycle_values(lifecycle: Urn) -> LifecycleValues:
    """Read and check the lifecycle URN's parameters, naming the field that is wrong."""
    try:
        params = lifecycle.params()
    except UrnError as exc:
        raise IdentifierError("lifecycle", str(exc)) from exc

    size_text = params.get(SIZE)
    if size_text is None:
        raise IdentifierError(f"lifecycle.{SIZE}", "missing (number of key bits or states)")
    if not _DIGITS_RE.fullmatch(size_text) or int(size_text) == 0:
        raise IdentifierError(f"lifecycle.{SIZE}", f"must be a positive integer, got {size_text!r}")

    until_text = params.get(VALID_UNTIL)
    if until_text is None:
        raise IdentifierError(f"lifecycle.{VALID_UNTIL}", "missing (epoch seconds)")
    if not _DIGITS_RE.fullmatch(until_text):
        raise IdentifierError(
            f"lifecycle.{VALID_UNTIL}",
            f"must be a non-negative integer (epoch seconds), got {until_text!r}",
        )

    fidelity: Decimal | None = None
    fidelity_text = params.get(FIDELITY)
    if fidelity_text is not None:
        if not _DECIMAL_RE.fullmatch(fidelity_text) or Decimal(fidelity_text) > 1:
            raise IdentifierError(
                f"lifecycle.{FIDELITY}", f"must be a decimal in [0, 1], got {fidelity_text!r}"
            )
        fidelity = Decimal(fidelity_text)

    return LifecycleValues(int(size_text), int(until_text), fidelity)


@dataclass(frozen=True, slots=True, eq=False)
class ServiceUnitId:
    """The N+1 URNs identifying one service unit: ``endpoints`` then ``lifecycle``.

    Construction checks the whole identifier (at least two endpoints, no two endpoints
    lexically equivalent, no lifecycle URN among the endpoints, a lifecycle URN with
    valid parameters), so an instance is always a valid identifier.

    Equality and hashing ignore endpoint order, because the identifier is not
    directional; ``endpoints`` keeps the order given only so that ``urns()`` writes back
    what was read. The originator is deliberately not part of the identifier.
    """

    endpoints: tuple[Urn, ...]
    lifecycle: Urn

    def __post_init__(self) -> None:
        # untyped callers pass lists too; tuple() of a tuple is that tuple
        object.__setattr__(self, "endpoints", tuple(self.endpoints))
        if len(self.endpoints) < _MIN_ENDPOINTS:
            raise IdentifierError(
                "endpoints",
                f"a service unit needs at least {_MIN_ENDPOINTS} endpoints, "
                f"got {len(self.endpoints)}",
            )
        seen: dict[str, int] = {}
        for i, endpoint in enumerate(self.endpoints):
            if not isinstance(endpoint, Urn):
                raise TypeError(f"endpoints[{i}] must be a Urn, not {type(endpoint).__name__}")
            if _is_lifecycle(endpoint):
                raise IdentifierError(
                    f"endpoints[{i}]",
                    f"{str(endpoint)!r} is a lifecycle URN; the lifecycle URN goes last",
                )
            try:
                endpoint.params()
            except UrnError as exc:
                raise IdentifierError(f"endpoints[{i}]", str(exc)) from exc
            key = endpoint.canonical()
            if key in seen:
                raise IdentifierError(
                    f"endpoints[{i}]",
                    f"{str(endpoint)!r} is the same endpoint as endpoints[{seen[key]}] "
                    f"({str(self.endpoints[seen[key]])!r}) under RFC 8141 equivalence",
                )
            seen[key] = i
        if not isinstance(self.lifecycle, Urn):
            raise TypeError(f"lifecycle must be a Urn, not {type(self.lifecycle).__name__}")
        if not _is_lifecycle(self.lifecycle):
            raise IdentifierError(
                "lifecycle",
                f"{str(self.lifecycle)!r} is not a lifecycle URN "
                f"(its NSS must start with {LIFECYCLE!r})",
            )
        _lifecycle_values(self.lifecycle)

    # -- construction -----------------------------------------------------------------

    @classmethod
    def build(
        cls,
        endpoints: Sequence[Urn | str],
        lifecycle_params: Mapping[str, ParamValue],
        *,
        nonces: Sequence[str | int] | None = None,
        nid: str = "qkd",
    ) -> Self:
        """Make a new identifier: fresh nonces on the endpoints, and the lifecycle URN.

        Each endpoint keeps its other q-component parameters and gets ``nonce=<value>``
        (replacing any nonce it had: a new service unit is a new pairing). ``nonces``
        gives them explicitly, one per endpoint, e.g. when the identifier is rebuilt
        from a peer's answer; otherwise each is a fresh ``new_nonce()``.

        ``lifecycle_params`` must hold ``size`` and ``valid-until`` (and may hold
        ``fidelity`` and anything else); they are written ``size``, ``valid-until``,
        ``fidelity`` first, then the rest in the order given, into
        ``urn:<nid>:lifecycle``. Numbers are written in plain decimal notation.
        """
        if isinstance(endpoints, str):
            raise TypeError("endpoints must be a sequence of URNs, not a single str")
        parsed: list[Urn] = []
        for i, endpoint in enumerate(endpoints):
            try:
                parsed.append(Urn.parse(endpoint) if isinstance(endpoint, str) else endpoint)
            except UrnError as exc:
                raise IdentifierError(f"endpoints[{i}]", str(exc)) from exc

        if nonces is None:
            nonce_texts = [new_nonce() for _ in parsed]
        else:
            if isinstance(nonces, str):
                raise TypeError("nonces must be a sequence, one per endpoint, not a str")
            if len(nonces) != len(parsed):
                raise IdentifierError(
                    "nonces", f"need one nonce per endpoint ({len(parsed)}), got {len(nonces)}"
                )
            nonce_texts = []
            for i, nonce in enumerate(nonces):
                if isinstance(nonce, int) and not isinstance(nonce, bool) and nonce >= 0:
                    nonce_texts.append(str(nonce))
                elif isinstance(nonce, str) and nonce:
                    nonce_texts.append(nonce)
                else:
                    raise IdentifierError(
                        f"nonces[{i}]",
                        f"must be a non-empty str or a non-negative int, got {nonce!r}",
                    )

        with_nonces: list[Urn] = []
        for i, (endpoint, nonce) in enumerate(zip(parsed, nonce_texts, strict=True)):
            try:
                params = endpoint.params()
            except UrnError as exc:
                raise IdentifierError(f"endpoints[{i}]", str(exc)) from exc
            params.pop(NONCE, None)
            with_nonces.append(endpoint.with_params({**params, NONCE: nonce}))

        ordered = [k for k in (SIZE, VALID_UNTIL, FIDELITY) if k in lifecycle_params]
        ordered += [k for k in lifecycle_params if k not in ordered]
        texts = {k: _format_value(f"lifecycle.{k}", lifecycle_params[k]) for k in ordered}
        try:
            lifecycle = Urn(nid, LIFECYCLE).with_params(texts)
        except UrnError as exc:
            raise IdentifierError(
                "nid" if exc.component == "NID" else "lifecycle", str(exc)
            ) from exc
        return cls(tuple(with_nonces), lifecycle)

    @classmethod
    def parse(cls, urns: Iterable[str]) -> Self:
        """Read an identifier from its N+1 URN strings, endpoints first, lifecycle last."""
        if isinstance(urns, str):
            raise TypeError("ServiceUnitId.parse expects a list of URN strings, not one str")
        texts = list(urns)
        if len(texts) < _MIN_ENDPOINTS + 1:
            raise IdentifierError(
                "urns",
                f"a service unit identifier needs at least {_MIN_ENDPOINTS + 1} URNs "
                f"({_MIN_ENDPOINTS} endpoints and a lifecycle URN), got {len(texts)}",
            )
        parsed: list[Urn] = []
        for i, text in enumerate(texts):
            try:
                parsed.append(Urn.parse(text))
            except UrnError as exc:
                raise IdentifierError(f"urns[{i}]", str(exc)) from exc
        *endpoints, lifecycle = parsed
        if not _is_lifecycle(lifecycle):
            raise IdentifierError(
                "lifecycle",
                f"the last URN {texts[-1]!r} is not a lifecycle URN "
                f"(its NSS must start with {LIFECYCLE!r})",
            )
        return cls(tuple(endpoints), lifecycle)

    # -- reading ------------------------------------------------------------------------

    def urns(self) -> list[str]:
        """The N+1 URN strings: endpoints in their stored order, lifecycle last."""
        return [*(str(e) for e in self.endpoints), str(self.lifecycle)]

    def key(self) -> str:
        """An order-independent text form (endpoints sorted), for stores and logs.

        Two identifiers are equal exactly when their keys are equal.
        """
        return "\n".join([*sorted(str(e) for e in self.endpoints), str(self.lifecycle)])

    def endpoint_nonce(self, index: int) -> str | None:
        """The nonce of ``endpoints[index]``, or ``None`` if it carries none.

        Identifiers read from elsewhere may lack a nonce (the seed's own example writes
        ``nid=`` on one endpoint), so absence is an answer, not an error.
        """
        return self.endpoints[index].params().get(NONCE)

    def nonces(self) -> tuple[str | None, ...]:
        """Every endpoint's nonce, in endpoint order."""
        return tuple(self.endpoint_nonce(i) for i in range(len(self.endpoints)))

    def lifecycle_params(self) -> dict[str, str]:
        """All lifecycle parameters as text, including ones this module does not know."""
        return self.lifecycle.params()

    @property
    def size(self) -> int:
        """Shared-state size: key bits for QKD, number of entangled states otherwise."""
        return _lifecycle_values(self.lifecycle).size

    @property
    def valid_until(self) -> int:
        """End of validity, in seconds since the Unix epoch."""
        return _lifecycle_values(self.lifecycle).valid_until

    @property
    def fidelity(self) -> Decimal | None:
        """Lifecycle fidelity for entanglement service units, ``None`` for plain QKD."""
        return _lifecycle_values(self.lifecycle).fidelity

    # -- identity -----------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServiceUnitId):
            return NotImplemented
        return self.lifecycle == other.lifecycle and frozenset(self.endpoints) == frozenset(
            other.endpoints
        )

    def __hash__(self) -> int:
        return hash((frozenset(self.endpoints), self.lifecycle))
