"""PII scan time on 1M rows x 20 columns (issue 13's figure; goal <= 2 s).

    .venv/bin/python bench/pii_scan.py [--rows 1000000] [--repeat 3] [--load]

A seeded frame held in memory (the scan, not the file read, is timed): e-mails, phones, valid
card numbers, IBANs, IPs, names, free text, and 13 ordinary columns (numbers, categories,
codes, dates). The scan samples 10k non-missing values per column and checksums flagged card
and IBAN columns in full. `--load` runs a second process burning one core throughout.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import numpy as np
import pandas as pd

GOAL = 2.0


def luhn(prefix: np.ndarray) -> list[str]:
    """Card numbers: 15-digit prefixes plus their Luhn check digit."""
    digits = np.array([list(map(int, p)) for p in prefix[:1000]])
    rev = digits[:, ::-1]
    doubled = rev[:, 0::2] * 2
    total = (doubled - 9 * (doubled > 9)).sum(axis=1) + rev[:, 1::2].sum(axis=1)
    check = (10 - total % 10) % 10
    cards = [p + str(c) for p, c in zip(prefix[:1000], check, strict=True)]
    return cards


def frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    pick = rng.integers(0, 1000, rows)
    prefixes = np.array([f"4556{i:011d}" for i in rng.integers(0, 10**11, 1000)])
    cards = np.array(luhn(prefixes))
    ibans = np.array(["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000"] * 500)
    first = ["Alice", "Bruno", "Chiara", "Dmitri", "Elena", "Farid", "Greta", "Hiroshi"] * 5
    first = [f"{name}{suffix}" for name, suffix in zip(first, "aeiouyAEIOU" * 4, strict=False)]
    last = ["Smith", "Okafor", "Novak", "Moreau", "Lind"] * 5
    last = [f"{name}{suffix}" for name, suffix in zip(last, "aeiou" * 5, strict=False)]
    names = np.array([f"{a.capitalize()} {b.capitalize()}" for a in first for b in last])
    columns = {
        "email": np.array([f"user{i}@example.com" for i in range(1000)])[pick],
        "phone": np.array([f"+44 20 7946 {i:04d}" for i in range(1000)])[pick],
        "card": cards[pick],
        "iban": ibans[pick],
        "ip": np.array([f"10.{i % 256}.{i // 256}.7" for i in range(1000)])[pick],
        "customer_name": names[pick],
        "notes": np.array(
            [f"called on day {i} about the invoice and a refund" for i in range(1000)]
        )[pick],
    }
    for i in range(6):
        columns[f"num{i}"] = rng.normal(0, 1, rows)
    for i in range(3):
        columns[f"count{i}"] = rng.integers(0, 1000, rows)
    columns["colour"] = rng.choice(["red", "green", "blue"], rows)
    columns["grade"] = rng.choice(["Very Good", "Fair", "Premium"], rows)
    columns["code"] = np.array([f"SKU-{i:05d}" for i in range(1000)])[pick]
    columns["day"] = np.array([f"2024-01-{d:02d}" for d in range(1, 29)] * 36)[:1000][pick]
    return pd.DataFrame(columns)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--load", action="store_true", help="burn one core meanwhile")
    args = parser.parse_args()
    from mlops.data import pii

    data = frame(args.rows)
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.load else None
    try:
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            findings = pii.scan(data)
            times.append(time.perf_counter() - start)
    finally:
        if burner is not None:
            burner.kill()
    found = ", ".join(f"{f.column}={f.kind}" for f in findings)
    median = statistics.median(times)
    print(f"{args.rows:,} rows x {data.shape[1]} columns ({'loaded' if args.load else 'quiet'})")
    print(f"flagged: {found}")
    print(f"scan: median {median:.2f} s of {args.repeat} ({', '.join(f'{t:.2f}' for t in times)})")
    print(f"goal <= {GOAL:.1f} s: {'met' if median <= GOAL else 'missed'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
