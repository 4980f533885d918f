"""RFC 6242 message framing: end-of-message (base:1.0) and chunked (base:1.1).

The decoder is incremental (bytes in, complete messages out) because SSH delivers
arbitrary slices of the stream, and it enforces the size limit *while* decoding so a
peer cannot make us buffer an unbounded message before we notice. The framing mode can
be switched between two messages: the hellos are always end-of-message framed, and a
client may pipeline its first chunked rpc in the same packet as its hello, so the
session decodes one message, decides, switches, and only then decodes the next.
"""

from __future__ import annotations

from typing import Final

EOM: Final = b"]]>]]>"
END_OF_CHUNKS: Final = b"\n##\n"
MAX_CHUNK_SIZE: Final = 4294967295
DEFAULT_MAX_MESSAGE_SIZE: Final = 16 * 1024 * 1024
_MAX_SIZE_DIGITS: Final = len(str(MAX_CHUNK_SIZE))
_OUT_CHUNK: Final = 1024 * 1024  # split large outgoing messages so peers can stream them


class FramingError(Exception):
    """The byte stream cannot be framed any more; the session must be closed."""


class MessageTooBig(FramingError):
    """A message exceeded the configured maximum size."""


class FrameDecoder:
    """Incremental RFC 6242 decoder.

    ``feed()`` appends raw bytes; ``next_message()`` returns one complete message (or
    ``None`` if more bytes are needed) using the current mode. After a FramingError the
    decoder is unusable: framing cannot be resynchronised reliably.
    """

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self.max_message_size = max_message_size
        self.chunked = False
        self._buf = bytearray()
        self._scan = 0  # EOM mode: bytes of _buf already searched for the delimiter
        self._parts: list[bytes] = []  # chunked mode: data of the message so far
        self._size = 0  # chunked mode: total bytes in _parts
        self._remaining = 0  # chunked mode: bytes still due in the current chunk
        self._failed: FramingError | None = None

    def set_chunked(self) -> None:
        """Switch to base:1.1 chunked framing for all following messages."""
        self.chunked = True
        self._scan = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as (part of) a message."""
        return len(self._buf) + self._size

    def feed(self, data: bytes) -> None:
        if self._failed:
            raise self._failed
        self._buf += data

    def messages(self) -> list[bytes]:
        """All complete messages now available (convenience for a fixed mode)."""
        out = []
        while (msg := self.next_message()) is not None:
            out.append(msg)
        return out

    def next_message(self) -> bytes | None:
        if self._failed:
            raise self._failed
        try:
            return self._next_chunked() if self.chunked else self._next_eom()
        except FramingError as exc:
            self._failed = exc
            raise

    def _next_eom(self) -> bytes | None:
        idx = self._buf.find(EOM, max(0, self._scan - len(EOM) + 1))
        if idx < 0:
            self._scan = len(self._buf)
            if len(self._buf) > self.max_message_size:
                raise MessageTooBig(f"message exceeds {self.max_message_size} bytes without ]]>]]>")
            return None
        if idx > self.max_message_size:
            raise MessageTooBig(f"message of {idx} bytes exceeds {self.max_message_size}")
        msg = bytes(self._buf[:idx])
        del self._buf[: idx + len(EOM)]
        self._scan = 0
        return msg

    def _next_chunked(self) -> bytes | None:
        buf = self._buf
        while True:
            if self._remaining:
                take = min(self._remaining, len(buf))
                if take == 0:
                    return None
                self._parts.append(bytes(buf[:take]))
                del buf[:take]
                self._remaining -= take
                if self._remaining:
                    return None
                continue
            # At a chunk header: LF HASH chunk-size LF, or end-of-chunks LF HASH HASH LF.
            if not buf:
                return None
            if buf[0] != 0x0A:
                raise FramingError(f"expected LF at chunk start, got {bytes(buf[:16])!r}")
            if len(buf) < 2:
                return None
            if buf[1] != 0x23:  # '#'
                raise FramingError(f"expected '#' after LF, got {bytes(buf[:16])!r}")
            if len(buf) < 3:
                return None
            if buf[2] == 0x23:  # end-of-chunks
                if len(buf) < 4:
                    return None
                if buf[3] != 0x0A:
                    raise FramingError("end-of-chunks not followed by LF")
                del buf[:4]
                if not self._parts:
                    raise FramingError("end-of-chunks before any chunk")
                msg = b"".join(self._parts)
                self._parts.clear()
                self._size = 0
                return msg
            size = self._chunk_size(buf)
            if size is None:
                return None

    def _chunk_size(self, buf: bytearray) -> int | None:
        """Parse ``\\n#<size>\\n`` at the start of ``buf``; consume it and return size."""
        end = buf.find(b"\n", 2, 2 + _MAX_SIZE_DIGITS + 1)
        if end < 0:
            digits = bytes(buf[2:])
            if digits and (not digits.isdigit() or len(digits) > _MAX_SIZE_DIGITS):
                raise FramingError(f"bad chunk header {bytes(buf[:16])!r}")
            return None
        digits = bytes(buf[2:end])
        if not digits.isdigit() or digits[0:1] == b"0":
            raise FramingError(f"bad chunk size {digits[:16]!r}")
        size = int(digits)
        if size > MAX_CHUNK_SIZE:
            raise FramingError(f"chunk size {size} exceeds {MAX_CHUNK_SIZE}")
        if self._size + size > self.max_message_size:
            raise MessageTooBig(
                f"message of at least {self._size + size} bytes exceeds {self.max_message_size}"
            )
        del buf[: end + 1]
        self._size += size
        self._remaining = size
        return size


def encode_message(msg: bytes, chunked: bool) -> bytes:
    """Frame one message for sending."""
    if not chunked:
        return msg + EOM
    if not msg:
        raise ValueError("a chunked message cannot be empty")
    out = bytearray()
    for start in range(0, len(msg), _OUT_CHUNK):
        part = msg[start : start + _OUT_CHUNK]
        out += b"\n#%d\n" % len(part)
        out += part
    out += END_OF_CHUNKS
    return bytes(out)
