"""A run as plain data, and what both readers share."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlops.tracking.readonly import Unavailable


@dataclass
class RunRecord:
    """One run as plain data (params, metrics and tags as MLflow holds them: flat)."""

    run_id: str
    name: str
    status: str
    start_ms: int | None
    end_ms: int | None
    artifact_uri: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    #: Dataset inputs: name, digest, context (`training`/`testing`), source.
    datasets: list[dict[str, str]] = field(default_factory=list)


#: Not readable directly (the shared read-only opener's refusal): go through MLflow.
Unreadable = Unavailable


def dataset_source(text: str | None) -> str:
    """A dataset source's URI (MLflow stores `{"uri": ...}` as JSON)."""
    if not text:
        return ""
    import json

    try:
        value = json.loads(text)
    except ValueError:
        return text
    return str(value.get("uri", text)) if isinstance(value, dict) else text
