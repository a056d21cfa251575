"""The access log: an ASGI middleware around the scoring app, one log line per request.

Each request gets an id: the client's `X-Request-ID` when it is a safe token (at most 128
printable ASCII token characters, nothing that could forge a log line), else a new uuid4 hex.
The id is put in `scope["mlops.request_id"]` for the app, bound to the lines logged while the
request is handled, and echoed in the response's `X-Request-ID` header. When the request ends,
logger `mlops.serve.access` logs method, route, status, duration_ms, rows scored (the app's
`scope["mlops.rows"]`), and the model version: at INFO, and at DEBUG for `/metrics`, `/health`
and `/ping`, which probes call all day.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from mlops import logs
from mlops.serve.metrics import OTHER, ROUTES

if TYPE_CHECKING:
    from mlops.serve.app import Message, Receive, Scope, ScoringApp, Send

log = logging.getLogger("mlops.serve.access")

HEADER = b"x-request-id"
#: RFC 9110 token characters, 1 to 128 of them.
_SAFE_ID = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")
#: Routes probed all day: their lines are DEBUG.
QUIET_ROUTES = frozenset({"/metrics", "/health", "/ping"})
#: Status logged when the client went away before an answer (nginx's convention).
CLIENT_CLOSED = 499


def request_id(headers: Any) -> str:
    """The client's X-Request-ID when it is a safe token, else a new uuid4 hex."""
    for key, value in headers:
        if key == HEADER:
            if _SAFE_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return uuid.uuid4().hex


class AccessLog:
    """Wraps the scoring app (`.app`); other attributes (`.holder`, `.close`) reach it too."""

    def __init__(self, app: ScoringApp) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = request_id(scope["headers"])
        scope["mlops.request_id"] = rid
        header = (HEADER, rid.encode("ascii"))
        status = CLIENT_CLOSED

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = logs.bind(request_id=rid)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if status == CLIENT_CLOSED:  # the app failed before answering: uvicorn sends a 500
                status = 500
            raise
        finally:
            logs.unbind(token)
            self._log(scope, rid, status, time.perf_counter() - start)

    def _log(self, scope: Scope, rid: str, status: int, seconds: float) -> None:
        path = scope["path"]
        route = path if path in ROUTES else OTHER
        level = logging.DEBUG if route in QUIET_ROUTES else logging.INFO
        if not log.isEnabledFor(level):
            return
        method = str(scope.get("method", ""))[:16]
        rows = scope.get("mlops.rows")
        version = scope.get("mlops.model_version") or logs.context().get("model_version")
        duration_ms = round(seconds * 1000, 3)
        log.log(
            level,
            "%s %s %s %.1fms rows=%s model_version=%s request_id=%s",
            method,
            route,
            status,
            duration_ms,
            "-" if rows is None else rows,
            version or "-",
            rid,
            extra={
                "request_id": rid,
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": duration_ms,
                "rows": rows,
                "model_version": version,
            },
        )
