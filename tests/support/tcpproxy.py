"""A TCP proxy a test can cut: every open connection through it is dropped at once, new ones
are still accepted. Records what clients sent, so a test can see a resumed request's headers."""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.sent: list[bytearray] = []  # per connection, client -> server bytes
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, log: bytearray | None
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if log is not None:
                    log.extend(data)
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _accept(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        s_reader, s_writer = await asyncio.open_connection(*self.target)
        log = bytearray()
        self.sent.append(log)
        self._writers |= {c_writer, s_writer}
        up = asyncio.create_task(self._pipe(c_reader, s_writer, log))
        down = asyncio.create_task(self._pipe(s_reader, c_writer, None))
        self._tasks |= {up, down}
        await asyncio.gather(up, down, return_exceptions=True)
        self._writers -= {c_writer, s_writer}

    def cut(self) -> int:
        """Abort every open connection (no FIN handshake: like a network drop). Returns how many."""
        cut = 0
        for writer in list(self._writers):
            writer.transport.abort()
            cut += 1
        return cut

    def requests(self, path: str) -> list[str]:
        """Request heads sent for ``path`` (one connection may carry several)."""
        heads = []
        for log in self.sent:
            for part in bytes(log).split(b"\r\n\r\n"):
                text = part.decode("utf-8", errors="replace")
                if f" {path}" in text.split("\r\n", 1)[0]:
                    heads.append(text)
        return heads

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
