"""The tracking-URI parser, re-exported: it lives in `mlops.defaults` (dependency-free), so that
shell completion reads it without importing this package (which loads the config models)."""

from mlops.defaults import (
    POSTGRES_DRIVERS,
    POSTGRES_EXTRA,
    SQLITE_BUSY_TIMEOUT,
    TrackingUri,
    parse_tracking_uri,
    postgres_driver,
)

__all__ = [
    "POSTGRES_DRIVERS",
    "POSTGRES_EXTRA",
    "SQLITE_BUSY_TIMEOUT",
    "TrackingUri",
    "parse_tracking_uri",
    "postgres_driver",
]
