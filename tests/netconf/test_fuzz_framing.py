"""Property tests: framing round-trips under any split, and garbage never crashes."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from qnms.netconf.protocol.framing import EOM, FrameDecoder, FramingError, encode_message

messages = st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=5)
cuts = st.lists(st.integers(min_value=0, max_value=2000), max_size=10)


def split(data: bytes, points: list[int]) -> list[bytes]:
    idx = sorted({p % (len(data) + 1) for p in points})
    bounds = [0, *idx, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def run(pieces: list[bytes], chunked: bool, limit: int = 1 << 20) -> tuple[list[bytes], bool]:
    dec = FrameDecoder(limit)
    if chunked:
        dec.set_chunked()
    out: list[bytes] = []
    try:
        for piece in pieces:
            dec.feed(piece)
            out.extend(dec.messages())
    except FramingError:
        return out, True
    return out, False


@settings(max_examples=150, deadline=None)
@given(messages, cuts, st.integers(min_value=1, max_value=64))
def test_chunked_roundtrip_any_split(msgs: list[bytes], points: list[int], csize: int) -> None:
    data = b""
    for m in msgs:  # chunk each message into pieces of csize bytes (peers choose freely)
        data += (
            b"".join(
                b"\n#%d\n" % len(m[i : i + csize]) + m[i : i + csize]
                for i in range(0, len(m), csize)
            )
            + b"\n##\n"
        )
    assert run(split(data, points), True) == (msgs, False)
    assert run([encode_message(m, True) for m in msgs], True) == (msgs, False)


@settings(max_examples=150, deadline=None)
@given(messages, cuts)
def test_eom_roundtrip_any_split(msgs: list[bytes], points: list[int]) -> None:
    # The first delimiter ends a message, so the expectation is a plain split.
    data = b"".join(encode_message(m, False) for m in msgs)
    expect = data.split(EOM)[:-1]
    assert run(split(data, points), False) == (expect, False)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), cuts, st.booleans())
def test_garbage_gives_messages_or_framing_error_independent_of_split(
    data: bytes, points: list[int], chunked: bool
) -> None:
    whole = run([data], chunked, limit=128)
    assert run(split(data, points), chunked, limit=128) == whole
