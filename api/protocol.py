"""uvicorn's HTTP protocols with TCP_NODELAY on every connection, for several workers.

With ``--workers N`` uvicorn binds the listening socket itself with protocol number 0, and
asyncio only turns Nagle's algorithm off for sockets whose protocol is IPPROTO_TCP: every
response then waited for the client's delayed ACK, ~40 ms per request on Linux (measured: a
single decide from a sequential client on PostgreSQL took 14 ms with 1 process, 57 ms with
4 workers, 16 ms with 4 workers and this protocol). These protocols set TCP_NODELAY on each
accepted connection themselves. `dunning-bandit serve` uses the httptools one (a C parser:
~0.4 ms less per request than h11's pure Python); with plain uvicorn pass
``--http api.protocol:NoDelayHttpToolsProtocol`` (or ``NoDelayH11Protocol``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _no_delay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _no_delay(transport)
        super().connection_made(transport)


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _no_delay(transport)
        super().connection_made(transport)
