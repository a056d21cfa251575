"""`mlops runs` review fixes that need no store: output redaction, shared tables, UTC times."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mlops.cli.state import print_json, print_text
from mlops.runs import RunRow
from mlops.runs._list import HEADERS
from mlops.tracking.lineage import SHORT_NAMES
from mlops.tracking.runs import RunRecord


def test_print_json_and_print_text_redact(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "hunter22")
    print_json({"uri": "https://bob:pa55word@example.com/x", "value": "hunter22"})
    print_text("token hunter22 at https://bob:pa55word@example.com/x\n")
    out = capsys.readouterr().out
    assert "hunter22" not in out and "pa55word" not in out
    assert '"uri": "https://***@example.com/x"' in out and '"value": "***"' in out
    assert out.endswith("token *** at https://***@example.com/x\n")


def _record(estimator: str) -> RunRecord:
    return RunRecord(
        run_id="b" * 32,
        name="run",
        status="FINISHED",
        start_ms=1_700_000_000_000,  # 2023-11-14 22:13:20 UTC
        end_ms=1_700_000_060_000,
        artifact_uri="",
        tags={"mlops.estimator": estimator},
    )


def test_times_are_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """As `mlops models list` prints a version's creation time: UTC."""
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        row = RunRow(_record("random_forest"), "roc_auc")
        assert row.to_json()["start_time"] == "2023-11-14T22:13:20+00:00"
        assert row.cells()[3] == "11-14 22:13"
        assert HEADERS[3] == "STARTED UTC"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_the_listing_shortens_estimators_with_the_run_name_table() -> None:
    for estimator, short in SHORT_NAMES.items():
        assert RunRow(_record(estimator), "roc_auc").cells()[5] == short
    assert RunRow(_record("svc"), "roc_auc").cells()[5] == "svc"


def test_a_large_png_is_sized_before_it_is_read(tmp_path: Path) -> None:
    """Over `MAX_INLINE_BYTES` a plot is named, never read into memory."""
    from mlops.runs._render import MAX_INLINE_BYTES, _image
    from mlops.tracking.runs import artifact_size

    plot = tmp_path / "plots" / "big.png"
    plot.parent.mkdir()
    with plot.open("wb") as handle:  # sparse: large on paper, nothing written
        handle.truncate(MAX_INLINE_BYTES + 1)
    record = _record("random_forest")
    record.artifact_uri = tmp_path.as_uri()
    assert artifact_size(None, record, "plots/big.png") == MAX_INLINE_BYTES + 1  # type: ignore[arg-type]

    def never(index: int, path: str) -> bytes:
        raise AssertionError(f"{path} read")

    def size(index: int, path: str) -> int | None:
        return artifact_size(None, record, path)  # type: ignore[arg-type]

    assert _image(never, size, 0, "plots/big.png") == (
        f"plots/big.png: {MAX_INLINE_BYTES + 1} bytes, not inlined"
    )
    small = b"\x89PNG small"
    inlined = _image(lambda i, p: small, lambda i, p: len(small), 0, "a.png")
    assert inlined.startswith("<img alt='a.png' src='data:image/png;base64,")
    # A store that does not say how large: read, then judged.
    unknown = _image(lambda i, p: b"x" * (MAX_INLINE_BYTES + 2), lambda i, p: None, 0, "b.png")
    assert unknown == f"b.png: {MAX_INLINE_BYTES + 2} bytes, not inlined"
