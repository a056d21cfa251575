"""Predict capability: check rows against the model signature, score files in bounded chunks.

`InputSchema` (the contract, shared with the server) lives in `schema`; chunked file scoring
in `batch`, reading input files in `source`.
"""

from mlops.predict.batch import (
    DEFAULT_BATCH_SIZE,
    MODEL_COLUMNS,
    PREDICTION,
    PROBA_PREFIX,
    PredictResult,
    Scorer,
    output_table,
    predict_file,
    score_batches,
)
from mlops.predict.schema import (
    FLOAT_TYPES,
    INT_TYPES,
    KNOWN_TYPES,
    Coerced,
    ColumnSpec,
    InputSchema,
    coerce_column,
)
from mlops.predict.source import TableSource

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "FLOAT_TYPES",
    "INT_TYPES",
    "KNOWN_TYPES",
    "MODEL_COLUMNS",
    "PREDICTION",
    "PROBA_PREFIX",
    "Coerced",
    "ColumnSpec",
    "InputSchema",
    "PredictResult",
    "Scorer",
    "TableSource",
    "coerce_column",
    "output_table",
    "predict_file",
    "score_batches",
]
