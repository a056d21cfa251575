"""`mlops.logs`: the JSON lines (keys, context, extras, redaction), the stderr stand-in, text
mode left as it was, and the request-id check of the access log."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlops import logs
from mlops.serve.access import request_id

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """A private stderr; logging is put back as it was afterwards."""
    sink = io.StringIO()
    for name in (logs.FORMAT_ENV, "MLFLOW_CONFIGURE_LOGGING", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(name, "")  # recorded: configure's exports are undone afterwards
        monkeypatch.delenv(name)
    root = logging.getLogger()
    level = root.level
    try:
        yield sink
    finally:
        logs.reset()
        root.setLevel(level)


def _lines(sink: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in sink.getvalue().splitlines() if line.strip()]


def test_json_line_keys_context_and_extras(stderr: io.StringIO) -> None:
    logs.configure(logging.INFO, "json", command="train", stream=stderr)
    with logs.bound(run_id="r123"):
        logging.getLogger("mlops.train").info("fit %s rows", 42, extra={"rows": 42})
    logging.getLogger("mlops.train").info("after the run")
    logging.getLogger("mlops.train").debug("below the level")
    first, second = _lines(stderr)
    assert list(first)[:4] == ["timestamp", "level", "logger", "message"]
    assert first["message"] == "fit 42 rows"
    assert (first["level"], first["logger"]) == ("info", "mlops.train")
    assert (first["command"], first["run_id"], first["rows"]) == ("train", "r123", 42)
    stamp = datetime.fromisoformat(first["timestamp"].replace("Z", "+00:00"))
    assert stamp.utcoffset() == UTC.utcoffset(None)
    assert "run_id" not in second and second["command"] == "train"
    assert logs.active_format() == "json"
    assert logs.format_from_env() == "json"  # exported for child processes


def test_json_lines_redact_secrets(stderr: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "hunter2-token")
    logs.configure(logging.INFO, "json", stream=stderr)
    log = logging.getLogger("mlflow.store")
    log.warning("cannot reach %s", "postgresql://mlflow:s3cr3t-pw@db:5432/mlflow")
    log.warning("retrying", extra={"uri": "https://bob:other-pw@mlflow.example/api"})
    log.warning("token is hunter2-token")
    try:
        raise RuntimeError("http://eve:exc-pw@host/")
    except RuntimeError:
        log.exception("failed")
    text = stderr.getvalue()
    for secret in ("s3cr3t-pw", "other-pw", "hunter2-token", "exc-pw"):
        assert secret not in text
    records = _lines(stderr)
    assert records[0]["message"] == "cannot reach postgresql://***@db:5432/mlflow"
    assert records[1]["uri"] == "https://***@mlflow.example/api"
    assert "RuntimeError" in records[3]["exception"]


def test_stderr_lines_become_records(stderr: io.StringIO) -> None:
    logs.configure(logging.ERROR, "json", command="predict", stream=stderr)  # as with --quiet
    sys.stderr.write("warning: 3 rows have missing values\nscored 10 ")
    sys.stderr.write("rows\n\n")
    print("error: no model", file=sys.stderr)
    records = _lines(stderr)
    assert [(r["level"], r["logger"], r["message"]) for r in records] == [
        ("warning", "mlops.cli", "3 rows have missing values"),
        ("info", "mlops.cli", "scored 10 rows"),
        ("error", "mlops.cli", "no model"),
    ]
    assert all(r["command"] == "predict" for r in records)


def test_reset_restores_stderr(stderr: io.StringIO) -> None:
    before = sys.stderr
    logs.configure(logging.INFO, "json", stream=stderr)
    assert isinstance(sys.stderr, logs.JsonLines)
    logs.reset()
    assert sys.stderr is before
    assert logs.active_format() == "text"
    assert logs.context() == {}


def test_unknown_format_is_refused(stderr: io.StringIO) -> None:
    from mlops.errors import ConfigError

    with pytest.raises(ConfigError, match="log format 'xml'"):
        logs.configure(logging.INFO, "xml", stream=stderr)


def test_process_context_follows_the_model(stderr: io.StringIO) -> None:
    logs.configure(logging.INFO, "json", command="serve", stream=stderr)
    logs.bind_process(model_name="m", model_version="1")
    logging.getLogger("x").info("one")
    logs.bind_process(model_version="2")
    logging.getLogger("x").info("two")
    logs.bind_process(model_name=None)
    logging.getLogger("x").info("three")
    versions = [(r.get("model_name"), r["model_version"]) for r in _lines(stderr)]
    assert versions == [("m", "1"), ("m", "2"), (None, "2")]


@pytest.mark.parametrize(
    "value",
    [b"a b", b'a"b', b"a\nb", b"a\x00b", b"x" * 129, b"", b"caf\xc3\xa9", b"{x}", b"a\\b"],
)
def test_unsafe_request_ids_are_replaced(value: bytes) -> None:
    made = request_id([(b"x-request-id", value)])
    assert made != value.decode("latin-1")
    assert len(made) == 32 and int(made, 16) >= 0


def test_safe_request_ids_are_kept() -> None:
    for value in (b"abc", b"0f8fad5b-d9cb-469f-a165-70867728950e", b"x" * 128, b"a.b_c~d|e"):
        assert request_id([(b"host", b"h"), (b"x-request-id", value)]) == value.decode()
    assert len(request_id([])) == 32


def _fresh(code: str) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter on this worktree's sources."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_help_and_text_mode_do_not_import_structlog() -> None:
    code = (
        "import sys, logging\n"
        "from mlops.cli.main import app\n"
        "try:\n"
        "    app(['--help'], prog_name='mlops')\n"
        "except SystemExit:\n"
        "    pass\n"
        "from mlops import logs\n"
        "logs.configure(logging.INFO, 'text', command='train')\n"
        "logging.getLogger('t').info('plain %s', 'postgresql://u:pw-x@h/db')\n"
        "print('structlog' in sys.modules)\n"
    )
    assert _fresh(code).stdout.splitlines()[-1] == "False"


def test_text_lines_unchanged() -> None:
    code = (
        "import logging\n"
        "from mlops import logs\n"
        "logs.configure(logging.INFO, 'text', command='train')\n"
        "logging.getLogger('mlops.x').info('plain %s', 'postgresql://u:pw-x@h/db')\n"
    )
    assert _fresh(code).stderr == "INFO mlops.x: plain postgresql://***@h/db\n"


def _call(app: Any, headers: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    """Run one GET /version through AccessLog(app); the messages the server would send."""
    from mlops.serve.access import AccessLog

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/version", "headers": headers}
    asyncio.run(AccessLog(app)(scope, receive, send))
    return sent


def test_access_line_of_a_failing_and_a_silent_app(caplog: pytest.LogCaptureFixture) -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("bug")

    async def silent(scope: Any, receive: Any, send: Any) -> None:
        assert scope["mlops.request_id"] == "given"
        return None  # the client left before an answer

    caplog.set_level(logging.INFO, logger="mlops.serve.access")
    with pytest.raises(RuntimeError):
        _call(failing, [])
    assert _call(silent, [(b"x-request-id", b"given")]) == []
    statuses = [(r.status, r.route, r.request_id) for r in caplog.records]  # type: ignore[attr-defined]
    assert statuses[0][:2] == (500, "/version") and len(statuses[0][2]) == 32
    assert statuses[1] == (499, "/version", "given")


def test_response_carries_the_request_id() -> None:
    async def answer(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": [(b"a", b"b")]})
        await send({"type": "http.response.body", "body": b""})

    start, _ = _call(answer, [(b"x-request-id", b"id-7")])
    assert start["headers"] == [(b"a", b"b"), (b"x-request-id", b"id-7")]
