"""Logging for every command: text lines for people (the default) or one JSON object per line.

`configure(level, "text")` keeps the plain `LEVEL logger: message` lines. `configure(level,
"json")` puts one `structlog.stdlib.ProcessorFormatter` on the root handler, so that records of
every library (mlflow, uvicorn, alembic, ...) come out as JSON lines on stderr with
`timestamp` (ISO 8601, UTC), `level`, `logger`, `message`, the context bound here (`command`,
`run_id`, `model_name`, `model_version`, `request_id`) and the record's `extra` fields.
In JSON mode the other lines mlops writes to stderr for people (notes, warnings) become
records of the `mlops.cli` logger too, so that stderr holds nothing but JSON lines.

Secrets are redacted in both formats (`mlops.errors.redact_secrets`, on every string value).
structlog is imported only when JSON is asked for: `mlops --help` does not pay for it.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import logging
import os
import sys
import threading
from collections.abc import Iterable, Iterator, MutableMapping
from contextvars import ContextVar, Token
from typing import Any, TextIO

#: Environment variable choosing the format (`text` or `json`); `--log-format` overrides it.
FORMAT_ENV = "MLOPS_LOG_FORMAT"
FORMATS = ("text", "json")
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"
#: Libraries that talk a lot at INFO: WARNING and up unless `-vv`.
NOISY = (
    "mlflow",
    "alembic",
    "urllib3",
    "matplotlib",
    "dvc",
    "git",
    "filelock",
    "botocore",
    "aiobotocore",
    "s3fs",
    "sqlalchemy",
    "huey",
)
#: The JSON keys that come first on every line, in this order.
KEYS = ("timestamp", "level", "logger", "message")

#: Context of the whole process (the command, the model being served), on every line.
_PROCESS: dict[str, Any] = {}
#: Context of the current thread or task (a run, a request), on every line it logs.
_CONTEXT: ContextVar[dict[str, Any] | None] = ContextVar("mlops_log_context", default=None)
#: LogRecord attributes that are not `extra` fields.
_RECORD_KEYS = frozenset(
    [
        *logging.LogRecord("n", 0, "p", 0, "m", (), None).__dict__,
        "message",
        "asctime",
        "taskName",
        "color_message",  # uvicorn's coloured copy of the message
    ]
)


class _State:
    format = "text"
    handler: logging.Handler | None = None
    stderr: TextIO | None = None
    excepthook: Any = None


_state = _State()


def format_from_env(default: str = "text") -> str:
    """The format `MLOPS_LOG_FORMAT` asks for (`default` when unset or not a known format)."""
    value = os.environ.get(FORMAT_ENV, "").strip().lower()
    return value if value in FORMATS else default


def active_format() -> str:
    """The format `configure` set up last in this process (`text` before that)."""
    return _state.format


# --------------------------------------------------------------------------- context


def bind_process(**values: Any) -> None:
    """Add fields to every later line of this process (a value of None removes the field)."""
    for key, value in values.items():
        if value is None:
            _PROCESS.pop(key, None)
        else:
            _PROCESS[key] = value


def bind(**values: Any) -> Token[dict[str, Any] | None]:
    """Add fields to the lines of the current thread/task; `unbind(token)` restores."""
    current = _CONTEXT.get() or {}
    return _CONTEXT.set({**current, **values})


def unbind(token: Token[dict[str, Any] | None]) -> None:
    """Restore the fields as they were before `bind` returned `token`."""
    with contextlib.suppress(ValueError):  # bound in another context (a generator moved on)
        _CONTEXT.reset(token)


@contextlib.contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Fields on the lines logged inside the block (by this thread or task)."""
    token = bind(**values)
    try:
        yield
    finally:
        unbind(token)


def context() -> dict[str, Any]:
    """The fields bound now: the process's, then this thread's or task's."""
    return {**_PROCESS, **(_CONTEXT.get() or {})}


# --------------------------------------------------------------------------- set-up


def configure(
    level: int,
    fmt: str = "text",
    *,
    command: str | None = None,
    quiet_noisy: bool = True,
    stream: TextIO | None = None,
) -> None:
    """Log records of `level` and up to `stream` (stderr), as text or JSON lines.

    Text: `logging.basicConfig` (a no-op when the root logger already has handlers) with the
    secret-redacting filter. JSON: our handler replaces the one a previous call installed; the
    format is exported in `MLOPS_LOG_FORMAT` so child processes (server workers, DVC stages)
    log JSON too, and MLflow is asked not to give its loggers their own text handler.
    """
    if fmt not in FORMATS:
        from mlops.errors import ConfigError

        raise ConfigError(f"log format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if _state.handler is not None:
        reset()  # configured before in this process (tests): start over
    if fmt == "json":
        _configure_json(level, stream or sys.stderr)
    else:
        logging.basicConfig(level=level, format=TEXT_FORMAT, stream=stream or sys.stderr)
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, RedactSecrets) for f in handler.filters):
                handler.addFilter(RedactSecrets())
    _state.format = fmt
    bind_process(command=command)
    if quiet_noisy:
        for noisy in NOISY:
            logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def reset() -> None:
    """Undo `configure(..., "json")`: our handler, stderr and excepthook go; context is cleared."""
    root = logging.getLogger()
    if _state.handler is not None:
        root.removeHandler(_state.handler)
        _state.handler = None
    if _state.stderr is not None:
        if isinstance(sys.stderr, JsonLines):
            sys.stderr.flush_pending()
        sys.stderr = _state.stderr
        _state.stderr = None
    if _state.excepthook is not None:
        sys.excepthook = _state.excepthook
        _state.excepthook = None
    logging.captureWarnings(False)
    logging.getLogger("mlops.cli").setLevel(logging.NOTSET)
    _state.format = "text"
    _PROCESS.clear()
    _CONTEXT.set(None)


def _configure_json(level: int, stream: TextIO) -> None:
    os.environ[FORMAT_ENV] = "json"
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    for plain in list(root.handlers):  # a text handler to stderr (basicConfig) would mix formats
        if type(plain) is logging.StreamHandler and plain.stream in (sys.stderr, sys.__stderr__):
            root.removeHandler(plain)
    root.addHandler(handler)
    root.setLevel(level)
    # MLflow, when imported before us, gave its loggers their own text handler.
    for name in ("mlflow", "alembic", "huey", "sqlalchemy.engine"):
        library = logging.getLogger(name)
        if library.handlers and not library.propagate:
            library.handlers = []
            library.propagate = True
    logging.captureWarnings(True)
    # Lines written for people (`warning: ...`, notes) become records too; "mlops.cli" passes
    # at INFO even with --quiet, as those lines do in text mode.
    logging.getLogger("mlops.cli").setLevel(logging.INFO)
    _state.handler, _state.stderr = handler, sys.stderr
    sys.stderr = JsonLines(logging.getLogger("mlops.cli"), stream)
    _state.excepthook = sys.excepthook
    sys.excepthook = _log_uncaught


def _log_uncaught(kind: type[BaseException], value: BaseException, tb: Any) -> None:
    if issubclass(kind, KeyboardInterrupt):
        if _state.excepthook is not None:
            _state.excepthook(kind, value, tb)
        return
    logging.getLogger("mlops.cli").critical(
        "uncaught %s", kind.__name__, exc_info=(kind, value, tb)
    )


def json_formatter() -> logging.Formatter:
    """The root handler's formatter in JSON mode: one JSON object per record, one line."""
    import structlog

    stdlib, processors = structlog.stdlib, structlog.processors
    return stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            stdlib.add_log_level,
            stdlib.add_logger_name,
            processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            _add_extra_and_context,
        ],
        processors=[
            stdlib.ProcessorFormatter.remove_processors_meta,
            processors.format_exc_info,
            _finish,
            processors.JSONRenderer(default=str),
        ],
    )


def _add_extra_and_context(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    record: logging.LogRecord | None = event.get("_record")
    if record is not None:
        for key, value in record.__dict__.items():
            if key not in _RECORD_KEYS and not key.startswith("_"):
                event.setdefault(key, value)
    for key, value in context().items():
        event.setdefault(key, value)
    return event


def _finish(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    """`event` becomes `message`, the usual keys come first, secrets are redacted."""
    from mlops.errors import SECRET_ENV, redact_secrets

    event["message"] = event.pop("event", "")
    ordered = {key: event.pop(key) for key in KEYS if key in event}
    ordered.update(event)
    # redact_secrets on the strings that may hold a secret: a URI, or a secret variable's value
    secrets = [v for v in map(os.environ.get, SECRET_ENV) if v and len(v) >= 4]
    for key, value in ordered.items():
        if isinstance(value, str) and (
            "://" in value or (secrets and any(secret in value for secret in secrets))
        ):
            ordered[key] = redact_secrets(value)
    return ordered


class RedactSecrets(logging.Filter):
    """Credentials in URIs or secret variables never reach a text log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        from mlops.errors import redact_secrets

        record.msg = redact_secrets(record.getMessage())
        record.args = None
        return True


class JsonLines(io.TextIOBase):
    """A stand-in for sys.stderr in JSON mode: each complete line written becomes a log record
    (`error: ...` at ERROR, `warning: ...` at WARNING, others at INFO); the record goes to the
    real stderr through the JSON handler. A partial line waits for its newline (or exit)."""

    def __init__(self, logger: logging.Logger, stream: TextIO) -> None:
        super().__init__()
        self._logger = logger
        self._stream = stream
        self._pending = ""
        self._lock = threading.RLock()
        self._local = threading.local()
        atexit.register(self.flush_pending)

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._stream, "errors", None)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._stream.fileno()

    def write(self, text: str) -> int:
        if getattr(self._local, "emitting", False):  # logging's own complaints: pass through
            return self._stream.write(text)
        with self._lock:
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
            self._emit(lines)
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def flush_pending(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, ""
            self._emit([pending])

    def _emit(self, lines: Iterable[str]) -> None:
        self._local.emitting = True
        try:
            for line in lines:
                text = line.rstrip("\r")
                if not text.strip():
                    continue
                level = logging.INFO
                if text.startswith("error: "):
                    level, text = logging.ERROR, text[len("error: ") :]
                elif text.startswith("warning: "):
                    level, text = logging.WARNING, text[len("warning: ") :]
                self._logger.log(level, "%s", text)
        finally:
            self._local.emitting = False
