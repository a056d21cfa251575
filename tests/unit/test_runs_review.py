"""`mlops runs` review fixes that need no store: output redaction, shared tables, UTC times."""

from __future__ import annotations

import pytest

from mlops.cli.state import print_json, print_text


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
