"""Monitor capability: drift and live metrics of captured traffic (`mlops monitor`).

Reads the Parquet files `mlops serve` captures (`serve.capture`), runs the drift engine of
`mlops drift` against the champion's reference, joins labels when they arrive, and writes
reports plus a Prometheus textfile of gauges.
"""

from mlops.monitor._capture import capture_files, parse_duration, read_capture
from mlops.monitor._live import LiveMetrics
from mlops.monitor._run import MonitorResult, run_monitor
from mlops.monitor._textfile import GAUGES, write_textfile

__all__ = [
    "GAUGES",
    "LiveMetrics",
    "MonitorResult",
    "capture_files",
    "parse_duration",
    "read_capture",
    "run_monitor",
    "write_textfile",
]
