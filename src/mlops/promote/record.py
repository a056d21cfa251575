"""Decision records: what was decided, on which evidence, by whom — as JSON and Markdown."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops.gates import GateResult
from mlops.promote.policy import MetricComparison

Verdict = Literal["promoted", "rejected", "unchanged", "rolled_back"]


class ModelSide(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str | None = None
    model_uri: str | None = None
    version: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    lineage: dict[str, str] = Field(default_factory=dict)


class DecisionRecord(BaseModel):
    """The decision record of one promotion or rollback."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["promote", "rollback"]
    verdict: Verdict
    model_name: str
    dry_run: bool = False
    forced: bool = False
    reason: str = ""
    decided_by: str
    decided_at: str
    primary_metric: str | None = None
    tolerance: dict[str, Any] = Field(default_factory=dict)
    candidate: ModelSide
    champion: ModelSide | None = None
    gates: list[GateResult] = Field(default_factory=list)
    comparison: list[MetricComparison] = Field(default_factory=list)
    signature_changes: list[str] = Field(default_factory=list)
    #: What a reader must know beside the gates (e.g. the candidate predicts a single class).
    notes: list[str] = Field(default_factory=list)
    aliases: dict[str, str] = Field(default_factory=dict)
    message: str = ""
    timings: dict[str, float] = Field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.verdict != "rejected"

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def to_markdown(record: DecisionRecord) -> str:
    """A human-readable decision record (reports/promotion.md)."""
    title = "Promotion" if record.action == "promote" else "Rollback"
    flags = [flag for flag, on in (("dry run", record.dry_run), ("forced", record.forced)) if on]
    lines = [
        f"# {title} decision: {record.verdict.upper()}"
        + (f" ({', '.join(flags)})" if flags else ""),
        "",
        f"- model: `{record.model_name}`",
        f"- decided by: {record.decided_by} at {record.decided_at}",
    ]
    if record.reason:
        lines.append(f"- reason: {record.reason}")
    if record.message:
        lines.append(f"- summary: {record.message}")
    if record.primary_metric:
        tol = record.tolerance
        modes: dict[str, str] = dict(tol.get("modes") or {})
        primary = record.primary_metric
        lines.append(
            f"- primary metric: `{primary}` "
            f"(max regression {tol.get('max_regression')} {modes.get(primary, tol.get('mode'))})"
        )
        guards = [name for name in modes if name != primary]
        if guards:
            listed = ", ".join(f"`{name}` ({modes[name]})" for name in guards)
            lines.append(f"- guard metrics (may not regress either): {listed}")
    for note in record.notes:
        lines.append(f"- note: {note}")
    if record.aliases:
        moved = ", ".join(f"`{k}` -> v{v}" for k, v in sorted(record.aliases.items()))
        lines.append(f"- aliases: {moved}")
    if record.gates:
        lines += [
            "",
            "## Gates",
            "",
            "| gate | value | threshold | result |",
            "| --- | --- | --- | --- |",
        ]
        for gate in record.gates:
            verdict = "pass" if gate.passed else "**FAIL**"
            lines.append(f"| {gate.name} | {_num(gate.value)} | {gate.threshold} | {verdict} |")
    if record.comparison:
        lines += [
            "",
            "## Candidate vs champion (re-scored on the same test split)",
            "",
            "| metric | candidate | champion | delta | better |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in record.comparison:
            better = "-" if row.better is None else ("yes" if row.better else "no")
            lines.append(
                f"| {row.metric} | {_num(row.candidate)} | {_num(row.champion)} | "
                f"{_num(row.delta)} | {better} |"
            )
    if record.signature_changes:
        lines += ["", "## Signature changes", ""]
        lines += [f"- {change}" for change in record.signature_changes]
    lines += ["", "## Lineage", "", "| | candidate | champion |", "| --- | --- | --- |"]
    champion = record.champion or ModelSide()
    lines.append(f"| version | {record.candidate.version or '-'} | {champion.version or '-'} |")
    lines.append(f"| run | {record.candidate.run_id or '-'} | {champion.run_id or '-'} |")
    keys = sorted(set(record.candidate.lineage) | set(champion.lineage))
    for key in keys:
        cand = record.candidate.lineage.get(key, "-")
        champ = champion.lineage.get(key, "-")
        lines.append(f"| {key} | {cand} | {champ} |")
    return "\n".join(lines) + "\n"
