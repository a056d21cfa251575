"""Shared by the registry-lookup tests: comparing answers, pointing projects at stores."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import open_store
from mlops.registry.local import ModelVersionInfo
from mlops.tracking import Store

#: What a lookup must report exactly as the MLflow client does.
FIELDS = ("name", "version", "run_id", "source", "status", "created_ms", "tags")


def same(found: ModelVersionInfo | None, reference: ModelVersionInfo | None) -> dict[str, Any]:
    """The fields that differ between a lookup's answer and the MLflow client's (empty: equal)."""
    assert found is not None and reference is not None, (found, reference)
    return {
        name: (getattr(found, name), getattr(reference, name))
        for name in FIELDS
        if getattr(found, name) != getattr(reference, name)
    }


def set_tracking_uri(project: Path, uri: str) -> None:
    config_file = project / "configs" / "local.yaml"
    settings = yaml.safe_load(config_file.read_text())
    settings["tracking"]["uri"] = uri
    config_file.write_text(yaml.safe_dump(settings))


def with_tracking_uri(store: Store, uri: str) -> Store:
    """The same project's store settings, pointed at another tracking URI."""
    return Store(
        store.settings.model_copy(update={"uri": uri}),
        root=store.root,
        registry=store.names,
        model_cache=store.model_cache,
    )


def project_store(project: Path) -> Store:
    return open_store(project)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cache_listing(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_dir())


@pytest.fixture(autouse=True)
def keep_mlflow_uris() -> Iterator[None]:
    """Tests here point MLflow at throwaway stores: leave its global URIs as they were."""
    import mlflow

    tracking_uri, registry_uri = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    yield
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(registry_uri)
