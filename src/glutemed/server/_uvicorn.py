"""uvicorn's HTTP protocols with TCP_NODELAY on every connection.

With several workers uvicorn binds the listening socket itself (protocol number 0), and asyncio
then leaves Nagle's algorithm on for the accepted connections: on a keep-alive connection the
response body waits for the client's delayed ACK of the headers, ~40 ms per request. Setting
TCP_NODELAY removes the stall. :func:`glutemed.server.run` passes :func:`protocol_path` as
uvicorn's ``http`` option: the httptools parser when it is installed (``uvicorn[standard]``),
else h11.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["NoDelayH11Protocol", "protocol_path"]


def _nodelay(transport: Any) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):  # a platform without the option
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    """:class:`H11Protocol` that sets TCP_NODELAY on its connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _nodelay(transport)
        super().connection_made(transport)


if importlib.util.find_spec("httptools") is not None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class NoDelayHttpToolsProtocol(HttpToolsProtocol):
        """:class:`HttpToolsProtocol` that sets TCP_NODELAY on its connection."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            _nodelay(transport)
            super().connection_made(transport)

    __all__ += ["NoDelayHttpToolsProtocol"]


def protocol_path() -> str:
    """Import path of the protocol class for uvicorn's ``http`` option."""
    if importlib.util.find_spec("httptools") is not None:
        return "glutemed.server._uvicorn:NoDelayHttpToolsProtocol"
    return "glutemed.server._uvicorn:NoDelayH11Protocol"
