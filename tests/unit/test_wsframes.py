"""A handed-over WebSocket reads its client's frames itself (server/live/wsframes.py): whole
messages out of bytes cut anywhere, fragments joined, control frames between them, deflated
messages with the client's context kept, and every protocol breach refused with its code."""

from __future__ import annotations

import zlib

import pytest

from server.live.wsframes import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    FrameError,
    FrameReader,
    close_frame,
    frame,
    unmask,
)


def client_frame(
    opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False, masked: bool = True
) -> bytes:
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes((b0, (0x80 if masked else 0) | n))
    elif n < 1 << 16:
        head = bytes((b0, (0x80 if masked else 0) | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((b0, (0x80 if masked else 0) | 127)) + n.to_bytes(8, "big")
    if not masked:
        return head + payload
    # A fixed mask: the frames are test parameters, whose ids must be the same in every worker.
    mask = b"\x9a\x01\x7f\xe3"
    return head + mask + unmask(payload, mask)


def test_unmask_is_its_own_inverse_at_every_length() -> None:
    mask = b"\x01\x02\x03\x04"
    for n in range(0, 70):
        data = bytes(range(n))
        assert unmask(unmask(data, mask), mask) == data
    assert unmask(b"\x00\x00\x00\x00\x00", mask) == b"\x01\x02\x03\x04\x01"


def test_messages_come_whole_from_bytes_cut_anywhere() -> None:
    big = ("가" * 30_000).encode()  # 90,000 bytes: a 64-bit length
    mid = b"m" * 300  # a 16-bit length
    wire = (
        client_frame(TEXT, b'{"type": "subscribe"}')
        + client_frame(BINARY, mid)
        + client_frame(TEXT, big)
        + client_frame(PING, b"p")
    )
    reader = FrameReader(1 << 20, deflate=False)
    got = []
    for i in range(0, len(wire), 7):
        got += reader.feed(wire[i : i + 7])
    assert got == [
        (TEXT, '{"type": "subscribe"}'),
        (BINARY, mid),
        (TEXT, "가" * 30_000),
        (PING, b"p"),
    ]
    assert reader.feed(b"") == []


def test_fragments_join_and_control_frames_come_between_them() -> None:
    reader = FrameReader(1024, deflate=False)
    wire = (
        client_frame(TEXT, b"ab", fin=False)
        + client_frame(PING, b"x")
        + client_frame(CONTINUATION, b"cd", fin=False)
        + client_frame(CONTINUATION, b"ef")
        + client_frame(CLOSE, close_frame(1000)[2:])
    )
    assert reader.feed(wire) == [(PING, b"x"), (TEXT, "abcdef"), (CLOSE, b"\x03\xe8")]


def test_deflated_messages_keep_the_clients_context() -> None:
    compress = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    reader = FrameReader(1024, deflate=True)
    for text in ['{"type": "subscribe", "jobs": "all"}'] * 3:
        data = compress.compress(text.encode()) + compress.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        assert reader.feed(client_frame(TEXT, data[:-4], rsv1=True)) == [(TEXT, text)]


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (client_frame(TEXT, b"a", masked=False), 1002),
        (client_frame(CONTINUATION, b"a"), 1002),
        (client_frame(TEXT, b"a", fin=False) + client_frame(TEXT, b"b"), 1002),
        (client_frame(PING, b"a", fin=False), 1002),
        (client_frame(PING, b"p" * 126), 1002),
        (client_frame(TEXT, b"a", rsv1=True), 1002),  # no deflate negotiated
        (bytes((0x83, 0x80)) + b"\0\0\0\0", 1002),  # opcode 3 is reserved
        (client_frame(TEXT, b"\xff\xfe"), 1007),
        (client_frame(TEXT, b"x" * 100), 1009),
        (client_frame(TEXT, b"x" * 60, fin=False) + client_frame(CONTINUATION, b"x" * 40), 1009),
    ],
    ids=[
        "unmasked",
        "continuation-of-nothing",
        "message-inside-message",
        "fragmented-ping",
        "long-ping",
        "rsv1-without-deflate",
        "reserved-opcode",
        "bad-utf8",
        "too-big",
        "too-big-in-fragments",
    ],
)
def test_breaches_are_refused_with_their_code(wire: bytes, code: int) -> None:
    reader = FrameReader(100, deflate=False)
    with pytest.raises(FrameError) as caught:
        reader.feed(wire)
    assert caught.value.code == code


def test_a_too_big_message_is_refused_from_its_head_alone() -> None:
    """The length is enough: the payload is never waited for, nor buffered."""
    reader = FrameReader(1000, deflate=False)
    head = bytes((0x81, 0x80 | 127)) + (1 << 40).to_bytes(8, "big")
    with pytest.raises(FrameError) as caught:
        reader.feed(head)
    assert caught.value.code == 1009


def test_a_deflate_bomb_is_refused() -> None:
    data = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    packed = data.compress(b"\0" * 1_000_000) + data.flush(zlib.Z_SYNC_FLUSH)
    reader = FrameReader(10_000, deflate=True)
    with pytest.raises(FrameError) as caught:
        reader.feed(client_frame(TEXT, packed[:-4], rsv1=True))
    assert caught.value.code == 1009


def test_server_control_frames() -> None:
    assert frame(PONG, b"x") == b"\x8a\x01x"
    assert close_frame(4008, b"slow consumer") == b"\x88\x0f\x0f\xa8slow consumer"
