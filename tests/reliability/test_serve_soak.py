"""A 60-second serving soak: 32 keep-alive clients on 127.0.0.1, zero non-2xx, bounded."""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration.serving import Server, feature_rows, make_project, register

CLIENTS = 32
SECONDS = float(os.environ.get("MLOPS_SOAK_SECONDS", "60"))
MAX_REQUESTS_PER_CLIENT = 20_000


@pytest.fixture(scope="module")
def server(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    project = make_project(trained_template, tmp_path_factory.mktemp("soak") / "project")
    register(project)
    server = Server.start(project)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_sixty_seconds_of_32_clients_without_a_single_error(
    server: Server, trained_template: Path
) -> None:
    rows = feature_rows(trained_template).head(20)
    records = json.loads(rows.to_json(orient="records"))
    bodies = [json.dumps({"dataframe_records": records[i : i + 1 + i % 3]}) for i in range(15)]
    statuses: dict[int, int] = {}
    errors: list[str] = []
    counts = [0] * CLIENTS
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS

    def client(index: int) -> None:
        rng = random.Random(index)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            while time.monotonic() < deadline and counts[index] < MAX_REQUESTS_PER_CLIENT:
                body = rng.choice(bodies)
                connection.request(
                    "POST", "/invocations", body, {"Content-Type": "application/json"}
                )
                response = connection.getresponse()
                payload = response.read()
                counts[index] += 1
                with lock:
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                if response.status != 200 or "predictions" not in json.loads(payload):
                    errors.append(f"{response.status} {payload[:80]!r}")
        except OSError as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SECONDS + 60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == [], errors[:5]
    assert set(statuses) == {200}, statuses
    assert all(count > 0 for count in counts)
    assert server.get("/health").status == 200
