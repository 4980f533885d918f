"""Uniform Resource Names (RFC 8141) as values.

The seed (draft-irtf-qirg-qi-multiplane-arch, section 5.3) names every application
endpoint of a service unit, and its lifecycle parameters, with a URN whose q-component
carries data (``urn:qkd:madqci:ccips?=nonce=177923``). Service-unit identity therefore
rests on two things this module gets exactly right:

* the syntax of RFC 8141 section 2, so that every URN we accept is one any other
  implementation accepts, and a malformed one is refused with a message that says what
  is wrong and where (these messages reach operators through NETCONF ``<rpc-error>``);
* lexical equivalence (RFC 8141 section 3.1), which is what "the same endpoint" means:
  the ``urn:`` prefix and the NID are case-insensitive, percent-encoding hex digits are
  case-insensitive, and the r-, q- and f-components do not take part. The NSS is
  compared case-sensitively and is never percent-decoded, because only the namespace
  could say more and we must not guess.

``Urn`` holds the components exactly as written (so ``str(Urn.parse(s)) == s`` for any
``s`` written with the lowercase ``urn:`` prefix); the prefix itself carries no
information and is always written back in lowercase.

The q-component is opaque to RFC 8141. The seed gives it a ``key=value&key=value`` form;
``Urn.params`` and ``Urn.with_params`` read and write that form, percent-decoding and
percent-encoding keys and values as UTF-8 so that any text survives a round trip.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Self
from urllib.parse import quote, unquote_to_bytes

__all__ = ["Urn", "UrnError"]

_ALPHANUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_LDH = _ALPHANUM | {"-"}
_HEXDIG = frozenset("0123456789ABCDEFabcdef")
# RFC 3986 section 2.3 / 2.2 / 3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@"
_UNRESERVED = _ALPHANUM | set("-._~")
_SUB_DELIMS = frozenset("!$&'()*+,;=")
_PCHAR_LITERAL = _UNRESERVED | _SUB_DELIMS | {":", "@"}
_NSS_CHARS = _PCHAR_LITERAL | {"/"}
_RQF_CHARS = _PCHAR_LITERAL | {"/", "?"}

_NID_MIN, _NID_MAX = 2, 32
_PREFIX = "urn:"
_PCT_RE = re.compile(r"%([0-9A-Fa-f]{2})")

# Characters left literal when percent-encoding a q-component key or value: everything
# allowed in a pchar except "&" and "=" (the seed's separators), "%" (the escape) and "+"
# (which form-decoders read as a space). "/" and "?" are encoded too, so an encoded key
# can always start a q-component, which must begin with a pchar.
_PARAM_SAFE = "-._~!$'()*,;:@"


class UrnError(ValueError):
    """A string or a component that is not a valid RFC 8141 URN.

    ``component`` names the part at fault (``"prefix"``, ``"NID"``, ``"NSS"``,
    ``"r-component"``, ``"q-component"``, ``"f-component"``) and ``offset`` the
    character where the problem starts (into the parsed text when parsing, into the
    component when constructing), so callers can point at it without re-parsing the
    message.
    """

    def __init__(
        self, message: str, *, component: str | None = None, offset: int | None = None
    ) -> None:
        super().__init__(message)
        self.component = component
        self.offset = offset


def _check_chars(value: str, allowed: frozenset[str], component: str, base: int) -> None:
    """Check that ``value`` uses only ``allowed`` characters and valid ``%XX`` escapes.

    ``base`` is the offset of ``value`` in the text being reported on, so messages point
    at the character in what the user actually wrote.
    """
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if ch == "%":
            escape = value[i : i + 3]
            if len(escape) < 3 or escape[1] not in _HEXDIG or escape[2] not in _HEXDIG:
                raise UrnError(
                    f"invalid percent-encoding {escape!r} at offset {base + i} in {component}",
                    component=component,
                    offset=base + i,
                )
            i += 3
            continue
        if ch not in allowed:
            raise UrnError(
                f"invalid character {ch!r} at offset {base + i} in {component}",
                component=component,
                offset=base + i,
            )
        i += 1


def _check_nid(nid: str, base: int) -> None:
    """NID = (alphanum) 0*30(ldh) (alphanum): letters, digits, inner hyphens, 2-32 long."""
    for i, ch in enumerate(nid):
        if ch not in _LDH:
            raise UrnError(
                f"invalid character {ch!r} at offset {base + i} in NID",
                component="NID",
                offset=base + i,
            )
    if not _NID_MIN <= len(nid) <= _NID_MAX:
        raise UrnError(
            f"NID {nid!r} must be {_NID_MIN}-{_NID_MAX} characters (got {len(nid)})",
            component="NID",
            offset=base,
        )
    if nid[0] == "-":
        raise UrnError(f"NID {nid!r} must not start with a hyphen", component="NID", offset=base)
    if nid[-1] == "-":
        raise UrnError(
            f"NID {nid!r} must not end with a hyphen",
            component="NID",
            offset=base + len(nid) - 1,
        )


def _check_nss(nss: str, base: int) -> None:
    """NSS = pchar *(pchar / "/"): non-empty, and "/" only after the first character."""
    if not nss:
        raise UrnError(f"NSS must not be empty (offset {base})", component="NSS", offset=base)
    if nss[0] == "/":
        raise UrnError(f"NSS must not start with '/' (offset {base})", component="NSS", offset=base)
    _check_chars(nss, _NSS_CHARS, "NSS", base)


def _check_rq(value: str, component: str, base: int) -> None:
    """r-component / q-component = pchar *( pchar / "/" / "?" ): non-empty."""
    if not value:
        raise UrnError(
            f"{component} must not be empty (offset {base})", component=component, offset=base
        )
    if value[0] in "/?":
        raise UrnError(
            f"{component} must not start with {value[0]!r} (offset {base})",
            component=component,
            offset=base,
        )
    _check_chars(value, _RQF_CHARS, component, base)


def _normalise_pct(text: str) -> str:
    """Uppercase the hex digits of every percent-encoding, without decoding anything."""
    return _PCT_RE.sub(lambda m: "%" + m.group(1).upper(), text)


def _encode_param(text: str) -> str:
    return quote(text, safe=_PARAM_SAFE, encoding="utf-8", errors="strict")


def _decode_param(text: str, what: str) -> str:
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UrnError(
            f"q-component parameter {what} {text!r} is not percent-encoded UTF-8",
            component="q-component",
        ) from exc


@dataclass(frozen=True, slots=True)
class Urn:
    """One URN, components held exactly as written (not decoded, not case-folded).

    ``r_component``, ``q_component`` and ``f_component`` are ``None`` when absent; an
    f-component may be present and empty (``urn:a:b#``), the other two may not, as
    RFC 8141 requires. Construction validates every component, so an ``Urn`` that
    exists is always valid. Equality (``==``) is exact; use ``equivalent`` or
    ``canonical`` for RFC 8141 lexical equivalence.
    """

    nid: str
    nss: str
    r_component: str | None = None
    q_component: str | None = None
    f_component: str | None = None

    def __post_init__(self) -> None:
        for name in ("nid", "nss"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"Urn.{name} must be a str")
        for name in ("r_component", "q_component", "f_component"):
            if not isinstance(getattr(self, name), str | None):
                raise TypeError(f"Urn.{name} must be a str or None")
        _check_nid(self.nid, 0)
        _check_nss(self.nss, 0)
        if self.r_component is not None:
            _check_rq(self.r_component, "r-component", 0)
            ambiguous = self.r_component.find("?=")
            if ambiguous >= 0:
                # RFC 8141: "?=" ends the r-component, so it cannot be written inside one.
                raise UrnError(
                    f"r-component must not contain '?=' (offset {ambiguous}): "
                    "it would start the q-component; percent-encode it",
                    component="r-component",
                    offset=ambiguous,
                )
        if self.q_component is not None:
            _check_rq(self.q_component, "q-component", 0)
        if self.f_component is not None:
            _check_chars(self.f_component, _RQF_CHARS, "f-component", 0)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse ``text`` following the RFC 8141 section 2 ABNF exactly.

        The NSS ends at the first "?" or "#". After it, "?+" introduces the r-component
        (ended by the first "?=" or "#"), "?=" the q-component (ended by "#"), and "#"
        the f-component; they must come in that order. Offsets in errors index ``text``.
        """
        if not isinstance(text, str):
            raise TypeError("Urn.parse expects a str")
        if not text[:4].isascii() or text[:4].lower() != _PREFIX:
            raise UrnError(
                f"URN must start with 'urn:' (got {text[:4]!r})", component="prefix", offset=0
            )
        nid_start = len(_PREFIX)
        nid_end = text.find(":", nid_start)
        if nid_end < 0:
            raise UrnError(
                f"missing ':' between NID and NSS in {text!r}",
                component="NID",
                offset=len(text),
            )
        nid = text[nid_start:nid_end]
        _check_nid(nid, nid_start)

        pos = nid_end + 1
        nss_end = len(text)
        for stop in "?#":
            found = text.find(stop, pos)
            if 0 <= found < nss_end:
                nss_end = found
        nss = text[pos:nss_end]
        _check_nss(nss, pos)
        pos = nss_end

        r_component = q_component = f_component = None
        if text.startswith("?+", pos):
            start = pos + 2
            end = len(text)
            for stop in ("?=", "#"):
                found = text.find(stop, start)
                if 0 <= found < end:
                    end = found
            r_component = text[start:end]
            _check_rq(r_component, "r-component", start)
            pos = end
        if text.startswith("?=", pos):
            start = pos + 2
            end = text.find("#", start)
            if end < 0:
                end = len(text)
            q_component = text[start:end]
            _check_rq(q_component, "q-component", start)
            pos = end
        if pos < len(text) and text[pos] == "?":
            what = text[pos : pos + 2]
            raise UrnError(
                f"unexpected {what!r} at offset {pos}: '?' must introduce '?+' "
                "(r-component) or '?=' (q-component), in that order",
                component="r-component" if r_component is None else "q-component",
                offset=pos,
            )
        if pos < len(text):
            # Only "#" can be here: every earlier scan stopped at "?" or "#".
            f_component = text[pos + 1 :]
            _check_chars(f_component, _RQF_CHARS, "f-component", pos + 1)
        return cls(nid, nss, r_component, q_component, f_component)

    def __str__(self) -> str:
        parts = [_PREFIX, self.nid, ":", self.nss]
        if self.r_component is not None:
            parts += ["?+", self.r_component]
        if self.q_component is not None:
            parts += ["?=", self.q_component]
        if self.f_component is not None:
            parts += ["#", self.f_component]
        return "".join(parts)

    @property
    def assigned_name(self) -> str:
        """``urn:<NID>:<NSS>`` as written: the name without r/q/f components."""
        return f"{_PREFIX}{self.nid}:{self.nss}"

    def canonical(self) -> str:
        """The RFC 8141 section 3.1 normal form used to decide lexical equivalence.

        Lowercase ``urn:`` and NID, uppercase hex in the NSS's percent-encodings, NSS
        otherwise untouched (never decoded), r/q/f components dropped. Two URNs are
        equivalent exactly when their canonical forms are equal, so this is also the
        key to index endpoints by.
        """
        return f"{_PREFIX}{self.nid.lower()}:{_normalise_pct(self.nss)}"

    def equivalent(self, other: Urn | str) -> bool:
        """RFC 8141 lexical equivalence with ``other`` (parsed first if a string)."""
        if isinstance(other, str):
            other = Urn.parse(other)
        return self.canonical() == other.canonical()

    def without_components(self) -> Urn:
        """This URN with r-, q- and f-components removed."""
        return Urn(self.nid, self.nss)

    def param_items(self) -> list[tuple[str, str]]:
        """The q-component read as the seed's ``key=value&key=value`` list, in order.

        Keys and values are percent-decoded as UTF-8. An absent q-component has no
        parameters. Every item must contain "=" and a non-empty key, since the seed
        gives no meaning to bare words; duplicates are kept (``params`` refuses them).
        """
        if self.q_component is None:
            return []
        items: list[tuple[str, str]] = []
        for index, item in enumerate(self.q_component.split("&")):
            key, sep, value = item.partition("=")
            if not sep:
                raise UrnError(
                    f"q-component parameter {index} ({item!r}) has no '=': expected key=value",
                    component="q-component",
                )
            if not key:
                raise UrnError(
                    f"q-component parameter {index} ({item!r}) has an empty key",
                    component="q-component",
                )
            items.append((_decode_param(key, "key"), _decode_param(value, "value")))
        return items

    def params(self) -> dict[str, str]:
        """The q-component parameters as a dict (insertion order = written order).

        A key given twice is refused rather than resolved: which of two ``nonce`` or
        ``size`` values counts would otherwise be an accident of the parser.
        """
        result: dict[str, str] = {}
        for key, value in self.param_items():
            if key in result:
                raise UrnError(
                    f"q-component parameter {key!r} is given more than once",
                    component="q-component",
                )
            result[key] = value
        return result

    def with_params(
        self,
        params: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        /,
        **kwargs: str,
    ) -> Urn:
        """A copy whose q-component is rebuilt from ``params`` then ``kwargs``.

        The q-component is replaced, not merged (merge with
        ``u.with_params({**u.params(), "nonce": "1"})``). Keys such as ``valid-until``
        are not Python identifiers, hence the mapping or pair-list argument. Keys and
        values are percent-encoded as UTF-8 wherever they hold anything but unreserved
        characters and the harmless sub-delimiters, so ``&``, ``=``, ``%`` and non-ASCII
        text round-trip through ``params``. No parameters at all remove the q-component.
        """
        pairs: list[tuple[str, str]] = []
        if params is not None:
            pairs.extend(params.items() if isinstance(params, Mapping) else params)
        pairs.extend(kwargs.items())
        encoded: list[str] = []
        seen: set[str] = set()
        for key, value in pairs:
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError("q-component parameter keys and values must be str")
            if not key:
                raise UrnError("q-component parameter keys must not be empty")
            if key in seen:
                raise UrnError(f"q-component parameter {key!r} is given more than once")
            seen.add(key)
            encoded.append(f"{_encode_param(key)}={_encode_param(value)}")
        return Urn(
            self.nid,
            self.nss,
            self.r_component,
            "&".join(encoded) if encoded else None,
            self.f_component,
        )
