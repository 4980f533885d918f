"""RFC 6242 framing: end-of-message and chunked decoding, limits and errors."""

from __future__ import annotations

import pytest

from qnms.netconf.protocol.framing import (
    EOM,
    MAX_CHUNK_SIZE,
    FrameDecoder,
    FramingError,
    MessageTooBig,
    encode_message,
)


def decode_all(data: bytes, chunked: bool, step: int | None = None, **kw: int) -> list[bytes]:
    dec = FrameDecoder(**kw)
    if chunked:
        dec.set_chunked()
    out: list[bytes] = []
    pieces = [data] if step is None else [data[i : i + step] for i in range(0, len(data), step)]
    for piece in pieces:
        dec.feed(piece)
        out.extend(dec.messages())
    return out


def test_eom_messages_and_partial_delimiter() -> None:
    dec = FrameDecoder()
    dec.feed(b"<a/>]]>]]><b/>]]")
    assert dec.messages() == [b"<a/>"]
    dec.feed(b">]]>")
    assert dec.messages() == [b"<b/>"]
    assert dec.buffered == 0


@pytest.mark.parametrize("step", [1, 2, 3, 5, 7, 1000])
def test_eom_split_anywhere(step: int) -> None:
    msgs = [b"<rpc>1</rpc>", b"<rpc>]]>]]</rpc>", b"x" * 50]
    data = b"".join(m + EOM for m in msgs)
    assert decode_all(data, False, step) == msgs


@pytest.mark.parametrize("step", [1, 2, 3, 4, 9, 1000])
def test_chunked_split_anywhere(step: int) -> None:
    data = b"\n#4\n<rpc\n#17\n message-id='1'/>\n##\n" + encode_message(b"<second/>", True)
    assert decode_all(data, True, step) == [b"<rpc message-id='1'/>", b"<second/>"]


def test_chunk_data_may_contain_framing_bytes() -> None:
    body = b"\n##\n]]>]]>\n#5\n"
    assert decode_all(encode_message(body, True), True) == [body]


def test_switch_to_chunked_between_messages() -> None:
    """A client may pipeline its first chunked rpc right behind its EOM hello."""
    dec = FrameDecoder()
    dec.feed(b"<hello/>]]>]]>" + encode_message(b"<rpc/>", True))
    assert dec.next_message() == b"<hello/>"
    dec.set_chunked()
    assert dec.next_message() == b"<rpc/>"
    assert dec.next_message() is None


@pytest.mark.parametrize(
    "data",
    [
        b"\n#0\n",  # chunk size 0
        b"\n#01\nx\n##\n",  # leading zero
        b"\n#abc\n",  # not a number
        b"\n#-1\n",
        b"\n# 1\nx",
        b"\n#4294967296\n",  # > 2^32-1
        b"\n#99999999999\n",  # 11 digits
        b"\n#123456789012",  # too long, no LF yet
        b"x\n#1\n",  # garbage before the chunk
        b"#1\nx\n##\n",  # missing LF at chunk start
        b"\n\n#1\n",
        b"\n##\n",  # end-of-chunks without a chunk
        b"\n#1\nx\n##x",  # end-of-chunks not followed by LF
        b"\n#1\nxy\n##\n",  # chunk longer than announced
        b"<rpc/>]]>]]>",  # base:1.0 framing on a 1.1 session
    ],
)
def test_chunked_framing_errors(data: bytes) -> None:
    with pytest.raises(FramingError):
        decode_all(data, True)


def test_max_chunk_size_accepted_in_header_but_limited_by_message_size() -> None:
    dec = FrameDecoder(max_message_size=1024)
    dec.set_chunked()
    dec.feed(b"\n#%d\n" % MAX_CHUNK_SIZE)
    with pytest.raises(MessageTooBig):
        dec.messages()


def test_chunked_size_enforced_at_header_before_data() -> None:
    dec = FrameDecoder(max_message_size=100)
    dec.set_chunked()
    dec.feed(b"\n#60\n" + b"a" * 60)
    assert dec.messages() == []
    dec.feed(b"\n#41\n")  # 101 bytes in total: refused before any of it arrives
    with pytest.raises(MessageTooBig):
        dec.messages()


def test_eom_size_enforced_without_delimiter() -> None:
    dec = FrameDecoder(max_message_size=100)
    dec.feed(b"a" * 100)
    assert dec.messages() == []
    dec.feed(b"a")
    with pytest.raises(MessageTooBig):
        dec.messages()


def test_eom_message_just_at_limit_passes() -> None:
    assert decode_all(b"a" * 100 + EOM, False, max_message_size=100) == [b"a" * 100]
    with pytest.raises(MessageTooBig):
        decode_all(b"a" * 101 + EOM, False, max_message_size=100)


def test_decoder_stays_failed() -> None:
    dec = FrameDecoder()
    dec.set_chunked()
    dec.feed(b"garbage")
    with pytest.raises(FramingError):
        dec.next_message()
    with pytest.raises(FramingError):
        dec.feed(encode_message(b"<ok/>", True))


def test_encode() -> None:
    assert encode_message(b"<a/>", False) == b"<a/>]]>]]>"
    assert encode_message(b"<a/>", True) == b"\n#4\n<a/>\n##\n"
    big = b"x" * (3 * 1024 * 1024 + 5)
    framed = encode_message(big, True)
    assert framed.count(b"\n#") == 5  # four chunks and the end marker
    assert decode_all(framed, True, max_message_size=len(big)) == [big]
    with pytest.raises(ValueError):
        encode_message(b"", True)
