"""Issue 13, personal data: init on a dataset with names, e-mails, phones and card numbers;
the pipeline stops at ingest until each is decided; afterwards no raw value reaches the tracker,
the reports or the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from .test_init import BIN, mlops, run

FIRST = ["Alice", "Bruno", "Chiara", "Dmitri", "Elena", "Farid", "Greta", "Hiroshi", "Ines"]
LAST = ["Schmidt", "Okafor", "Lindqvist", "Moreau", "Takahashi", "Novak", "Castillo", "Brennan"]


def luhn_complete(prefix: str) -> str:
    """`prefix` plus the check digit that makes the Luhn checksum hold."""
    digits = [int(d) for d in prefix][::-1]
    total = sum(d * 2 - 9 * (d * 2 > 9) if i % 2 == 0 else d for i, d in enumerate(digits))
    return prefix + str((10 - total % 10) % 10)


def personal_csv(path: Path, rows: int = 300) -> dict[str, list[str]]:
    """Names, e-mails, phones, valid card numbers, a sensitive categorical, numbers, a label.
    Returns the raw personal values by column (what must never leak)."""
    rng = np.random.default_rng(13)
    first = rng.choice(FIRST, rows)
    last = rng.choice(LAST, rows)
    names = [f"{f} {la}" for f, la in zip(first, last, strict=True)]
    emails = [f"{f.lower()}.{la.lower()}{i}@mailbox.example.org" for i, (f, la) in enumerate(zip(first, last, strict=True))]  # fmt: skip
    phones = [f"+44 20 7946 {1000 + i:04d}" for i in range(rows)]
    cards = []
    for i in range(rows):
        raw = luhn_complete(f"4556{7000 + i:04d}{int(rng.integers(0, 10**7)):07d}")
        cards.append(" ".join(raw[j : j + 4] for j in range(0, 16, 4)))
    income = rng.normal(50, 15, rows)
    tenure = rng.integers(0, 30, rows)
    religion = rng.choice(["none", "christian", "muslim", "jewish", "hindu"], rows)
    logit = 0.08 * (income - 50) + 0.1 * (tenure - 15)
    churn = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    frame = pd.DataFrame(
        {
            "full_name": names,
            "email": emails,
            "phone": phones,
            "card": cards,
            "religion": religion,
            "income": income,
            "tenure": tenure,
            "churn": churn,
        }
    )
    frame.to_csv(path, index=False)
    return {"full_name": names, "email": emails, "phone": phones, "card": cards}


def leaked(roots: list[Path], values: list[str]) -> list[str]:
    """`file: value` for every raw value found in the bytes of any file under `roots`."""
    needles = {v: v.encode() for v in values}
    found = []
    for root in roots:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for file in files:
            data = file.read_bytes()
            found += [f"{file}: {v}" for v, b in needles.items() if b in data]
    return found


@pytest.mark.slow
def test_init_run_stops_on_personal_data_then_nothing_leaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "customers.csv"
    raw = personal_csv(source)
    project = tmp_path / "shop"
    mlops("init", project, "--source", source, "--target", "churn", "--yes", cwd=tmp_path)

    stopped = mlops("pipeline", "run", cwd=project, check=False)
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    # The ingest stage's own one-line error (dvc shows it), then `dvc repro failed`.
    errors = [line for line in stopped.stderr.splitlines() if "personal data in" in line]
    assert len(errors) == 1 and errors[0].startswith("error: "), stopped.stderr
    assert "Traceback" not in stopped.stderr
    for column in ("full_name (person_name)", "email (email)", "phone (phone)", "card (credit_card)"):  # fmt: skip
        assert column in errors[0]
    assert "drop | hash | keep" in errors[0] and "religion" not in errors[0]
    assert not (project / "data" / "raw" / "dataset.parquet").exists()

    scanned = mlops("data", "scan", source, "--json", cwd=project, check=False)
    assert scanned.returncode == 3
    assert {f["column"] for f in json.loads(scanned.stdout)["columns"]} == set(raw)

    text = (project / "params.yaml").read_text()
    decisions = "pii: {full_name: keep, email: hash, phone: drop, card: drop}"
    (project / "params.yaml").write_text(text.replace("pii: {}", decisions, 1))
    text = (project / "params.yaml").read_text()
    (project / "params.yaml").write_text(
        text.replace("quasi_identifiers: []", "quasi_identifiers: [religion, tenure]", 1)
    )
    # Without a key, hashing refuses in one line naming both variables.
    no_key = mlops("pipeline", "run", cwd=project, check=False)
    assert no_key.returncode == 1
    assert "MLOPS_PII_KEY" in no_key.stderr and "MLOPS_PII_KEY_FILE" in no_key.stderr

    key = {"MLOPS_PII_KEY": "correct horse battery staple 13"}
    done = run(BIN / "mlops", "pipeline", "run", cwd=project, extra=key, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert mlops("data", "scan", "data/raw/dataset.parquet", cwd=project).returncode == 0

    contract = json.loads((project / "data" / "schema.json").read_text())
    recorded = {p["column"]: (p["kind"], p["decision"]) for p in contract["pii"]}
    assert recorded == {
        "full_name": ("person_name", "keep"),
        "email": ("email", "hash"),
        "phone": ("phone", "drop"),
        "card": ("credit_card", "drop"),
    }
    assert contract["k_anonymity"]["columns"] == ["religion", "tenure"]
    assert contract["k_anonymity"]["k"] >= 1
    assert "email" not in contract["features"] and "full_name" not in contract["features"]
    stored = pd.read_parquet(project / "data" / "raw" / "dataset.parquet")
    assert "phone" not in stored.columns and "card" not in stored.columns
    assert stored["email"].str.fullmatch(r"[0-9a-f]{64}").all()

    tracked = [project / "mlartifacts", project / "reports", project / "mlflow.db", project / "models"]  # fmt: skip
    assert (project / "mlflow.db").is_file() and (project / "reports" / "drift.json").is_file()
    everything = [v for values in raw.values() for v in values]
    assert leaked(tracked, everything) == []
    # Dropped and hashed values are not even in the stored data.
    gone = raw["email"] + raw["phone"] + raw["card"]
    assert leaked([project / "data" / "raw", project / "data" / "processed"], gone) == []
    # The params DVC and MLflow record name the decisions, never the key.
    assert "correct horse" not in (project / "params.yaml").read_text()
    assert leaked(tracked, [key["MLOPS_PII_KEY"]]) == []
    assert yaml.safe_load((project / "params.yaml").read_text())["data"]["pii"]["email"] == "hash"

    # The card (issue 13's acceptance): slices and importances shown, personal levels redacted,
    # and `mlops card --check` fails until the intended use is written.
    sensitive = ("--set", "card.sensitive=[religion]")
    checked = run(BIN / "mlops", *sensitive, "card", "--check", cwd=project, extra=key, check=False)
    assert checked.returncode == 3, checked.stdout + checked.stderr
    assert "card.intended_use" in checked.stdout + checked.stderr
    card = (project / "reports" / "model_card.md").read_text()
    assert "## Slices" in card and "religion" in card
    assert "income" in card.split("## Explanations")[1]
    written = (
        "--set",
        "card.intended_use=Churn triage",
        "--set",
        "card.out_of_scope=Credit decisions",
    )
    done = run(BIN / "mlops", *sensitive, *written, "card", "--check", cwd=project, extra=key, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert leaked([project / "reports", project / "mlartifacts"], everything) == []
