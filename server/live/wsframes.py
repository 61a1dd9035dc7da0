"""A WebSocket's client frames (RFC 6455 section 5), read without aiohttp: a handed-over socket
(aiohttp_internals.hand_over) parses its own. Client frames are few and small (subscribe,
unsubscribe, pings, pongs, close), so this is plain Python with no buffer kept between frames
beyond an incomplete one. Messages may be fragmented and, when permessage-deflate was
negotiated (RFC 7692), compressed."""

from __future__ import annotations

import zlib

from aiohttp import WSCloseCode

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_DEFLATE_TAIL = b"\x00\x00\xff\xff"


class FrameError(Exception):
    """The client broke the protocol: the socket closes with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def frame(opcode: int, payload: bytes = b"") -> bytes:
    """A server frame (unmasked, final) of at most 125 bytes: the control frames."""
    assert len(payload) <= 125
    return bytes((0x80 | opcode, len(payload))) + payload


def close_frame(code: int, reason: bytes = b"") -> bytes:
    return frame(CLOSE, code.to_bytes(2, "big") + reason[:123])


PING_FRAME = frame(PING)


def unmask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    if not n:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


class FrameReader:
    """Whole messages out of the bytes a client sends: ``(opcode, payload)``, payload a str
    for TEXT, bytes otherwise; control frames as they come, between fragments too."""

    __slots__ = (
        "_buffer",
        "_compressed",
        "_inflate",
        "_opcode",
        "_parts",
        "_size",
        "deflate",
        "max_size",
    )

    def __init__(self, max_size: int, deflate: bool) -> None:
        self.max_size = max_size  # a message of this many bytes or more is refused
        self._buffer = b""
        self._opcode: int | None = None  # the message being assembled
        self._compressed = False
        self._parts: list[bytes] = []
        self._size = 0
        self.deflate = deflate  # permessage-deflate negotiated
        # The client may keep its compression context between messages: so do we, from its
        # first compressed message on (zlib's state is tens of KiB: none for a socket that
        # never sends one).
        self._inflate: zlib._Decompress | None = None

    def feed(self, data: bytes) -> list[tuple[int, str | bytes]]:
        buf = self._buffer + data if self._buffer else data
        out: list[tuple[int, str | bytes]] = []
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            fin, rsv, opcode = b0 & 0x80, b0 & 0x70, b0 & 0x0F
            if not b1 & 0x80:
                raise FrameError(WSCloseCode.PROTOCOL_ERROR, "client frames must be masked")
            n = b1 & 0x7F
            head = 2
            if n == 126:
                if end - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif n == 127:
                if end - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            self._check(fin, rsv, opcode, n)
            if end - pos < head + 4 + n:
                break
            mask = buf[pos + head : pos + head + 4]
            payload = unmask(buf[pos + head + 4 : pos + head + 4 + n], mask)
            pos += head + 4 + n
            message = self._take(fin, rsv, opcode, payload)
            if message is not None:
                out.append(message)
        self._buffer = bytes(buf[pos:]) if pos < end else b""
        return out

    def _check(self, fin: int, rsv: int, opcode: int, n: int) -> None:
        if opcode >= CLOSE:
            if opcode > PONG:
                raise FrameError(WSCloseCode.PROTOCOL_ERROR, f"unknown opcode {opcode}")
            if not fin or n > 125 or rsv:
                raise FrameError(WSCloseCode.PROTOCOL_ERROR, "bad control frame")
            return
        if opcode not in (CONTINUATION, TEXT, BINARY):
            raise FrameError(WSCloseCode.PROTOCOL_ERROR, f"unknown opcode {opcode}")
        if opcode == CONTINUATION and self._opcode is None:
            raise FrameError(WSCloseCode.PROTOCOL_ERROR, "continuation of nothing")
        if opcode != CONTINUATION and self._opcode is not None:
            raise FrameError(WSCloseCode.PROTOCOL_ERROR, "a message inside a message")
        first_rsv1 = rsv == 0x40 and opcode != CONTINUATION and self.deflate
        if rsv and not first_rsv1:
            raise FrameError(WSCloseCode.PROTOCOL_ERROR, "reserved bits set")
        if self._size + n >= self.max_size:
            raise FrameError(WSCloseCode.MESSAGE_TOO_BIG, "message too big")

    def _take(
        self, fin: int, rsv: int, opcode: int, payload: bytes
    ) -> tuple[int, str | bytes] | None:
        if opcode >= CLOSE:
            return opcode, payload
        if opcode != CONTINUATION:
            self._opcode = opcode
            self._compressed = bool(rsv)
        self._parts.append(payload)
        self._size += len(payload)
        if not fin:
            return None
        kind, parts = self._opcode, self._parts
        compressed = self._compressed
        self._opcode, self._parts, self._size, self._compressed = None, [], 0, False
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if compressed:
            if self._inflate is None:
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
            data = self._inflate.decompress(data + _DEFLATE_TAIL, self.max_size)
            if len(data) >= self.max_size or self._inflate.unconsumed_tail:
                raise FrameError(WSCloseCode.MESSAGE_TOO_BIG, "message too big")
        assert kind is not None
        if kind == TEXT:
            try:
                return TEXT, data.decode("utf-8")
            except UnicodeDecodeError:
                raise FrameError(WSCloseCode.INVALID_TEXT, "text is not UTF-8") from None
        return kind, data
