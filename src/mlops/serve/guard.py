"""uvicorn's HTTP protocol with the limits it lacks: a deadline for request headers, a connection cap.

uvicorn closes an idle keep-alive connection after `timeout_keep_alive`, but a connection that
never completes its request headers (a slow or half-open client) stays open for good: hundreds
of them exhaust the process's file descriptors. Here every connection waiting for a request
gets `header_timeout` seconds to send its headers, and a connection beyond `max_connections`
gets only a moment (its request is answered 503 by uvicorn's `limit_concurrency`).

The settings travel on uvicorn's `Config` (attributes below), so worker processes get them too.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: `Config` attributes read by the protocol.
HEADER_TIMEOUT = "mlops_header_timeout"
MAX_CONNECTIONS = "mlops_max_connections"
#: Seconds a connection over the cap has to send the request that gets its 503.
OVER_CAP_SECONDS = 1.0


class GuardedHttpProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` that closes connections slow to send a request's headers."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._header_timeout: float | None = getattr(config, HEADER_TIMEOUT, None)
        self._max_connections: int | None = getattr(config, MAX_CONNECTIONS, None)
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        over = self._max_connections is not None and len(self.connections) > self._max_connections
        self._await_headers(OVER_CAP_SECONDS if over else self._header_timeout)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_headers(self._header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def _await_headers(self, seconds: float | None) -> None:
        """Close the connection unless a new request's headers are in within `seconds`."""
        self._cancel_deadline()
        if seconds is not None:
            waiting_on = self.cycle  # replaced by a new cycle once the next headers are in
            self._header_deadline = self.loop.call_later(seconds, self._expire, waiting_on)

    def _expire(self, waiting_on: object) -> None:
        self._header_deadline = None
        busy = self.cycle is not None and not self.cycle.response_complete
        if self.cycle is waiting_on and not busy and not self.transport.is_closing():
            self.transport.close()

    def _cancel_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None
