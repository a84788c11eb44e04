"""A TCP proxy between the service and PostgreSQL that a test cuts, as a restart would.

Cut, it drops every connection at once and answers each new one as a PostgreSQL that is
starting up does (FATAL 57P03 "the database system is starting up"), until it is restored.
A cut can wait for a step of a request: the first message the service sends that carries a
marker (text of a statement, such as ``b"COMMIT"``), which then reaches the server or not.
The service's URL through the proxy asks for no TLS, so that the proxy can read the markers.
"""

import asyncio
import contextlib
from dataclasses import dataclass

from sqlalchemy.engine import make_url

_READ_BYTES = 65536
_MARKER_SPAN = 64
"""Bytes of a message kept to find a marker that a read split in two (markers are shorter)."""


def _fatal(sqlstate: str, message: str) -> bytes:
    """A PostgreSQL ErrorResponse message of severity FATAL."""
    fields = [(b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message)]
    body = b"".join(kind + value.encode() + b"\0" for kind, value in fields) + b"\0"
    return b"E" + (len(body) + 4).to_bytes(4, "big") + body


STARTING_UP = _fatal("57P03", "the database system is starting up")


@dataclass(frozen=True, slots=True)
class _Trap:
    marker: bytes
    delivered: bool


@dataclass(frozen=True, slots=True)
class _Link:
    """One connection of the service, through the proxy to the server."""

    service: asyncio.StreamWriter
    server: asyncio.StreamWriter

    def drop(self) -> None:
        """The service's end reset, as a crashed server's would be; the server's end closed
        after what was sent to it, which it still reads (a delivered COMMIT commits)."""
        self.service.transport.abort()
        self.server.close()


class CuttableProxy:
    def __init__(self, server_host: str, server_port: int) -> None:
        self.server_host = server_host
        self.server_port = server_port
        self.refusing = False
        self._trap: _Trap | None = None
        self._links: set[_Link] = set()
        self._listener: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._listener = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._listener.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.cut()
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()

    def url(self, database_url: str) -> str:
        """``database_url`` through the proxy."""
        direct = make_url(database_url)
        proxied = direct.set(host="127.0.0.1", port=self.port, query={"ssl": "disable"})
        return proxied.render_as_string(hide_password=False)

    def cut(self) -> None:
        """Every connection dropped, new ones refused until :meth:`restore`."""
        self.refusing = True
        self._trap = None
        for link in list(self._links):
            link.drop()

    def cut_at(self, marker: bytes, *, delivered: bool) -> None:
        """Cut when the service sends a message carrying ``marker``, after passing it on to
        the server if ``delivered`` (whose answer is then lost)."""
        self._trap = _Trap(marker, delivered)

    def restore(self) -> None:
        self.refusing = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            await _refuse(reader, writer)
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(
                self.server_host, self.server_port
            )
        except OSError:
            writer.transport.abort()
            return
        link = _Link(writer, server_writer)
        self._links.add(link)
        try:
            await asyncio.gather(self._to_server(reader, link), _pipe(server_reader, writer))
        finally:
            self._links.discard(link)
            link.drop()

    async def _to_server(self, reader: asyncio.StreamReader, link: _Link) -> None:
        recent = b""
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(_READ_BYTES):
                recent = recent[-_MARKER_SPAN:] + chunk
                trap = self._trap
                if trap is not None and trap.marker in recent:
                    if trap.delivered:
                        link.server.write(chunk)
                    self.cut()
                    return
                link.server.write(chunk)
                await link.server.drain()
        link.server.close()  # the service hung up


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(_READ_BYTES):
            writer.write(chunk)
            await writer.drain()
    writer.close()  # the server hung up


async def _refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer the startup message as a starting server does, and hang up."""
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        length = int.from_bytes(await reader.readexactly(4), "big")
        await reader.readexactly(length - 4)
        writer.write(STARTING_UP)
        await writer.drain()
    writer.close()
