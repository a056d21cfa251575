"""The HTTP app: a plain ASGI callable (no framework on the request path), no model at import.

Routes: `POST /invocations` (MLflow's scoring protocol), `GET /ping`, `GET /health`,
`GET /version`, `GET /metrics`. Client mistakes get 4xx with a short message; a 5xx means a bug.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from mlops import __version__, logs, threads
from mlops.errors import DataError
from mlops.predict.schema import Coerced
from mlops.serve import coalesce, protocol
from mlops.serve.access import AccessLog
from mlops.serve.capture import Capture, request_id
from mlops.serve.metrics import OTHER, ROUTES, Metrics
from mlops.serve.model_holder import ModelHolder, ServingModel
from mlops.serve.options import OPTIONS_ENV, ServeOptions
from mlops.serve.protocol import RequestError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Response = tuple[int, list[tuple[bytes, bytes]], bytes]

#: Bodies larger than this are parsed and scored on a worker thread, so that a big batch does
#: not stall `/health` and small requests; smaller ones skip the thread hop (it costs more).
OFFLOAD_BYTES = 64 * 1024
JSON = b"application/json"


def _json_response(status: int, payload: Any) -> Response:
    body = json.dumps(payload).encode()
    return status, [(b"content-type", JSON), (b"content-length", str(len(body)).encode())], body


def _error(status: int, message: str) -> Response:
    body = protocol.error_body(status, message)
    return status, [(b"content-type", JSON), (b"content-length", str(len(body)).encode())], body


class ClientGone(Exception):
    """The client disconnected before sending the whole body."""


#: Routes whose answers name the model version that gave them (`X-Model-Version`).
MODEL_ROUTES = frozenset({"/invocations", "/health", "/version", "/ping"})


def model_headers(model: ServingModel) -> list[tuple[bytes, bytes]]:
    """`X-Model-Name` / `X-Model-Version` of the version that answered (a reload may swap it)."""
    headers = []
    if model.name is not None:
        headers.append((b"x-model-name", model.name.encode("latin-1", "replace")))
    if model.version is not None:
        headers.append((b"x-model-version", model.version.encode("latin-1", "replace")))
    return headers


class ScoringApp:
    """The ASGI app. The model is loaded by `ModelHolder` after startup, never at import."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.metrics = Metrics()
        self.holder = ModelHolder(
            options.store(),
            options.model_uri,
            reload_interval=options.reload_interval,
            allow_unsafe=options.allow_unsafe,
            silence_warnings=options.silence_warnings,
            on_load=self._loaded,
            on_error=lambda _message: self.metrics.model_failed(),
        )
        self._pool: ThreadPoolExecutor | None = None
        self._coalescer = coalesce.Coalescer(self._call_model)
        #: Bumped on every load: each scoring thread re-applies `threads` to what was loaded.
        self._generation = 0
        self._threads_applied = threading.local()
        self.metrics.textfile = options.monitor_textfile
        self.capture = Capture(options.capture, self.metrics) if options.capture.enabled else None

    # ---------------------------------------------------------------- ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.holder.start()
                if self.capture is not None:
                    self.capture.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def close(self) -> None:
        self.holder.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self.capture is not None:
            self.capture.close()  # flush and close the last capture file
        self.metrics.close()

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        path = scope["path"]
        route = path if path in ROUTES else OTHER
        serving = self.holder.current  # the version that answers this request
        self.metrics.in_flight.inc()
        in_flight = True
        try:
            try:
                status, headers, body = await self._dispatch(route, scope, receive, serving)
            except RequestError as exc:
                # A 413 leaves the rest of the body unread: uvicorn discards it and the
                # connection stays usable, so the client reads a clean answer.
                status, headers, body = _error(exc.status, str(exc))
                if exc.status == 408:  # the rest of a slow body is not worth waiting for
                    headers.append((b"connection", b"close"))
            except ClientGone:
                return
            except Exception:
                log.exception("unexpected error on %s", route)
                status, headers, body = _error(500, "internal server error")
            # Counted before the answer leaves: a client reading /metrics next sees its request.
            self.metrics.in_flight.dec()
            in_flight = False
            self.metrics.observe(route, status, time.perf_counter() - start)
            if serving is not None and route in MODEL_ROUTES:
                headers = headers + model_headers(serving)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        finally:
            if in_flight:
                self.metrics.in_flight.dec()

    async def _dispatch(
        self, route: str, scope: Scope, receive: Receive, serving: ServingModel | None
    ) -> Response:
        method = scope["method"]
        if route == "/invocations":
            if method != "POST":
                raise RequestError(405, "use POST for /invocations")
            timeout = self.options.request_timeout
            try:
                # A timer on this task (no extra task): only a request that waits (for its body,
                # the scoring thread or a combined model call) can be cut short.
                async with asyncio.timeout(timeout):
                    return await self._invocations(scope, receive, serving)
            except TimeoutError:
                raise RequestError(
                    504, f"the request took longer than {timeout:g}s (serve.request_timeout)"
                ) from None
        if route == OTHER:
            raise RequestError(404, "not found")
        if method not in ("GET", "HEAD"):
            raise RequestError(405, f"use GET for {route}")
        if route in ("/ping", "/health"):
            current = serving
            if current is not None and not self.metrics.all_workers_ready():
                current = None  # another worker is still loading: not ready as a whole
            if route == "/health":
                return self._health(current)
            if current is None:
                raise RequestError(503, "model not loaded yet")
            return 200, [(b"content-type", JSON), (b"content-length", b"1")], b"\n"
        if route == "/version":
            if serving is None:
                raise RequestError(503, "model not loaded yet")
            return _json_response(200, {**serving.describe(), "mlops_version": __version__})
        body, content_type = self.metrics.render()
        length = str(len(body)).encode()
        return 200, [(b"content-type", content_type.encode()), (b"content-length", length)], body

    def _health(self, current: ServingModel | None) -> Response:
        if current is None:
            return _json_response(503, {"status": "loading", "error": self.holder.last_error})
        payload: dict[str, Any] = {
            "status": "ready", "model": current.name, "version": current.version,
        }  # fmt: skip
        if self.holder.last_error:  # serving, but a newer version failed to load
            payload["reload_error"] = self.holder.last_error
        return _json_response(200, payload)

    # ---------------------------------------------------------------- scoring

    async def _invocations(
        self, scope: Scope, receive: Receive, current: ServingModel | None
    ) -> Response:
        if current is None:
            raise RequestError(503, "model not loaded yet")
        content_type, length = _headers(scope)
        limit = self.options.max_body_bytes
        if length is not None and length > limit:
            raise RequestError(413, f"request body exceeds the {limit}-byte limit")
        mime = protocol.media_type(content_type)
        body = await _read_body(receive, limit, self.options.body_timeout)
        limits = self._limits(current)
        if len(body) > OFFLOAD_BYTES:
            loop = asyncio.get_running_loop()
            predictions, missing, frame = await loop.run_in_executor(
                self._executor(), _score, self._call_model, current, body, mime, limits
            )
        else:
            coerced = _prepare(current, body, mime, limits)
            missing, frame = coerced.rows_with_missing, coerced.frame
            if current.scorer.is_classifier and len(coerced.frame) <= coalesce.MAX_ROWS:
                try:
                    predictions = await self._coalescer.predict(current, coerced.frame)
                except (ValueError, TypeError) as exc:
                    raise _rejected(exc) from exc
            else:
                predictions = _predict(self._call_model, current, coerced.frame)
        self.metrics.scored(predictions, missing, current.scorer.is_classifier)
        scope["mlops.rows"], scope["mlops.model_version"] = len(predictions), current.version
        if self.capture is not None:
            self.capture.offer(frame, predictions, current.name, current.version, request_id(scope))
        payload = protocol.encode_predictions(predictions)
        size = str(len(payload)).encode()
        return 200, [(b"content-type", JSON), (b"content-length", size)], payload

    def _limits(self, model: ServingModel) -> protocol.Limits:
        columns = self.options.max_columns
        if columns is not None:  # never refuse the columns the model itself needs
            columns = max(columns, len(model.scorer.schema.names))
        return protocol.Limits(max_rows=self.options.max_rows, max_columns=columns)

    def _call_model(self, model: ServingModel, frame: pd.DataFrame) -> np.ndarray:
        """The one place the model is called (counted in `mlops_model_calls_total`)."""
        self.metrics.model_calls.inc()
        if getattr(self._threads_applied, "generation", -1) != self._generation:
            # OpenMP's thread limit belongs to the calling thread: set it in each scoring
            # thread, again after a load (a new model may have brought a new library).
            threads.limit_this_thread(self.options.threads)
            self._threads_applied.generation = self._generation
        return model.scorer.predict(frame)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlops-score")
        return self._pool

    def _loaded(self, model: ServingModel) -> None:
        logs.bind_process(model_name=model.name, model_version=model.version)
        self._generation += 1
        self.metrics.model_loaded(
            model.name or "", model.version or "", model.alias or "", model.run_id or ""
        )


def _headers(scope: Scope) -> tuple[str | None, int | None]:
    content_type: str | None = None
    length: int | None = None
    for key, value in scope["headers"]:
        if key == b"content-type":
            content_type = value.decode("latin-1")
        elif key == b"content-length":
            try:
                length = int(value)
            except ValueError:
                raise RequestError(400, "invalid Content-Length header") from None
    return content_type, length


async def _read_body(receive: Receive, limit: int, timeout: float | None = None) -> bytes:
    """The whole body: 413 past `limit` bytes, 408 when it takes longer than `timeout` seconds."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise RequestError(413, f"request body exceeds the {limit}-byte limit")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise RequestError(
            408, f"the request body did not arrive within {timeout:g}s (serve.body_timeout)"
        ) from None


def _prepare(
    model: ServingModel, body: bytes, mime: str, limits: protocol.Limits = protocol.NO_LIMITS
) -> Coerced:
    """Parse and validate a body against the model's signature (400 on any mismatch)."""
    schema = model.scorer.schema
    try:
        rows = protocol.parse_body(body, mime, schema.names, model.string_columns, limits)
        if rows.values is not None:
            return schema.coerce_values(rows.values, rows.names, rows.count)
        return schema.coerce(rows.to_frame())
    except RequestError:
        raise
    except DataError as exc:
        raise RequestError(400, str(exc)[:500]) from exc
    except RecursionError:  # deeply nested values (names, cells) met a recursive repr or check
        raise protocol.too_deep() from None


def _rejected(exc: Exception) -> RequestError:
    log.info("model rejected a request: %s", type(exc).__name__)
    return RequestError(400, "the model could not score these rows")


ModelCall = Callable[[ServingModel, "pd.DataFrame"], "np.ndarray"]


def _predict(call: ModelCall, model: ServingModel, frame: pd.DataFrame) -> np.ndarray:
    try:
        return call(model, frame)
    except (ValueError, TypeError) as exc:  # the estimator refused these rows
        raise _rejected(exc) from exc


def _score(
    call: ModelCall, model: ServingModel, body: bytes, mime: str, limits: protocol.Limits
) -> tuple[np.ndarray, int, pd.DataFrame]:
    """Parse, validate and predict: (predictions, rows with missing values, the rows)."""
    coerced = _prepare(model, body, mime, limits)
    return _predict(call, model, coerced.frame), coerced.rows_with_missing, coerced.frame


def create_app(options: ServeOptions) -> ScoringApp:
    """The app factory: cheap, loads nothing; the model loads after startup."""
    return ScoringApp(options)


def app_from_env() -> AccessLog:
    """Factory for worker processes: options come from the parent through the environment."""
    options = ServeOptions.model_validate_json(os.environ[OPTIONS_ENV])
    level = logging.getLevelName(options.log_level)
    logs.configure(level, logs.format_from_env(), command="serve")
    app = create_app(options)
    app.holder.load_first()
    return AccessLog(app)
