"""Scoring a Parquet file on a Dask cluster, partition by partition, into one atomic output.

`predict_file` checks the input against the model signature first, exactly as in-process; then
the driver (this process) plans partitions (runs of consecutive row groups of about
`partition_rows` rows; a row group much larger than that is cut into slices), ships the model's
files to every worker once, and submits one task per partition. A worker loads the model through
the same skops allowlist (once per worker process), reads its rows from the file itself, scores
them with the same `score_batches` as in-process and writes `part-NNNNN.arrow` (Arrow IPC, LZ4:
cheap to write and read back, where a Parquet part would be encoded twice) into a temp
directory beside the output. The driver appends the parts in file order as they complete to a
temp file that replaces the output only when every row is in; the parts are removed on success,
on failure and on Ctrl-C/SIGTERM alike.

Workers read the input and write their parts at the driver's absolute paths: on a `tcp://`
cluster those paths must be on a filesystem every worker sees, and the workers need mlops.
"""

from mlops.predict.partitioned._driver import predict_partitioned
from mlops.predict.partitioned._worker import (
    MIN_PARTITION_ROWS,
    PARTITIONS_PER_WORKER,
    Job,
    Partition,
    ShippedModel,
    default_partition_rows,
    plan_partitions,
    score_partition,
    worker_scorer,
)

__all__ = [
    "MIN_PARTITION_ROWS",
    "PARTITIONS_PER_WORKER",
    "Job",
    "Partition",
    "ShippedModel",
    "default_partition_rows",
    "plan_partitions",
    "predict_partitioned",
    "score_partition",
    "worker_scorer",
]
