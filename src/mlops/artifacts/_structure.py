"""Structural checks of a loaded model before it is trusted.

A skops file whose types are all on the allowlist can still carry arrays that point outside
themselves: a tree whose child or feature indices are out of range loads fine and then makes
scikit-learn's compiled prediction code read or write out of bounds (a segmentation fault in
`predict`, `drift`, `promote` and the server), or loop forever on a cycle. Every compiled
structure the allowlist admits is checked here with vectorised numpy:

- `sklearn.tree._tree.Tree` (decision trees, forests, extra trees, gradient boosting): node
  count, children after their parent (no cycles) and in range, leaves on both sides, feature
  indices in range, value array shape;
- HistGradientBoosting's `TreePredictor`: the same for its node records, categorical split
  bitsets in range, the known-category thresholds within a bitset (0..255);
- linear models: coefficient and intercept shapes against `n_features_in_`;
- `n_features_in_` of a pipeline's steps: each step consumes what the previous one makes.

Checking costs a few milliseconds for a 300-tree forest (bench/load_validation.py).
"""

from __future__ import annotations

from typing import Any

from mlops.errors import ModelLoadError

#: How deep the object graph is walked for estimators (pipelines nest a few levels).
MAX_DEPTH = 12
TREE_LEAF = -1
#: HistGradientBoosting's categorical bitsets hold 8 x 32 bits.
BITSET_BITS = 256


class _Invalid(Exception):
    """One structural problem (becomes a ModelLoadError naming the file)."""


def check_structure(model: Any, where: str) -> bool:
    """Raise ModelLoadError when a tree, predictor or linear model inside `model` is malformed.

    Return False when the check could not be complete: objects nested deeper than MAX_DEPTH
    were not walked (the caller scores a probe batch in a child process before trusting it).
    """
    gaps: list[str] = []
    try:
        _walk(model, depth=0, seen=set(), n_features=None, gaps=gaps)
    except _Invalid as exc:
        raise ModelLoadError(f"{where}: malformed model ({exc}); refusing to load it") from None
    except (AttributeError, TypeError, ValueError, IndexError, KeyError) as exc:
        raise ModelLoadError(
            f"{where}: malformed model ({type(exc).__name__} while checking its structure)"
        ) from None
    return not gaps


def _walk(obj: Any, *, depth: int, seen: set[int], n_features: int | None, gaps: list[str]) -> None:
    if id(obj) in seen:
        return
    import numpy as np

    if isinstance(obj, np.ndarray) and obj.dtype == object:  # gradient boosting's estimators_
        obj = obj.ravel().tolist()
    elif isinstance(obj, np.ndarray) or obj is None or isinstance(obj, str | int | float | bool):
        return
    if depth > MAX_DEPTH:
        state = getattr(obj, "__dict__", None)
        if (isinstance(obj, list | tuple | dict) and obj) or (isinstance(state, dict) and state):
            gaps.append(type(obj).__name__)  # may hold a tree this walk did not reach
        return
    seen.add(id(obj))
    kind = type(obj).__module__ + "." + type(obj).__name__
    if kind == "sklearn.tree._tree.Tree":
        _check_tree(obj, n_features)
        return
    if kind.endswith("_hist_gradient_boosting.predictor.TreePredictor"):
        _check_predictor(obj, n_features, None)
        return
    if isinstance(obj, list | tuple):
        for item in obj:
            _walk(item, depth=depth + 1, seen=seen, n_features=n_features, gaps=gaps)
        return
    if isinstance(obj, dict):
        for item in obj.values():
            _walk(item, depth=depth + 1, seen=seen, n_features=n_features, gaps=gaps)
        return
    state = getattr(obj, "__dict__", None)
    if not isinstance(state, dict):
        return
    own = state.get("n_features_in_")
    width = int(own) if isinstance(own, int | np.integer) else n_features
    if width is not None and width < 0:
        raise _Invalid(f"{type(obj).__name__}.n_features_in_ is negative")
    if "_predictors" in state:
        _check_hist_gradient_boosting(obj, width)
    if "coef_" in state:
        _check_linear(obj, width)
    if "steps" in state and isinstance(state["steps"], list):
        _check_pipeline(state["steps"])
    for key, value in state.items():
        if key == "_predictors":
            continue
        _walk(value, depth=depth + 1, seen=seen, n_features=width, gaps=gaps)


def _check_tree(tree: Any, n_features: int | None) -> None:
    import numpy as np

    state = tree.__getstate__()
    nodes, values = state["nodes"], state["values"]
    count = int(state["node_count"])
    if count < 1 or nodes.shape != (count,) or values.shape[0] != count:
        raise _Invalid(
            f"tree has node_count {count} but {nodes.shape[0]} nodes and {values.shape[0]} values"
        )
    if values.ndim != 3 or values.shape[1] != tree.n_outputs or values.shape[2] < 1:
        raise _Invalid(f"tree values have shape {values.shape}, expected (nodes, outputs, classes)")
    if n_features is not None and tree.n_features != n_features:
        raise _Invalid(f"tree reads {tree.n_features} features, its estimator {n_features}")
    left, right, feature = nodes["left_child"], nodes["right_child"], nodes["feature"]
    index = np.arange(count)
    leaf = left == TREE_LEAF
    if np.any(leaf != (right == TREE_LEAF)):
        raise _Invalid("a tree node has one child")
    inner = ~leaf
    if np.any((left[inner] <= index[inner]) | (left[inner] >= count)) or np.any(
        (right[inner] <= index[inner]) | (right[inner] >= count)
    ):
        raise _Invalid("a tree node's child index is out of range")
    if np.any((feature[inner] < 0) | (feature[inner] >= tree.n_features)):
        raise _Invalid("a tree node's feature index is out of range")


def _check_predictor(predictor: Any, n_features: int | None, categorical: Any) -> None:
    _check_predictors([predictor], n_features, categorical)


def _check_predictors(predictors: list[Any], n_features: int | None, categorical: Any) -> None:
    """All of a model's gradient-boosting trees at once (one concatenation, a dozen numpy ops)."""
    import numpy as np

    sizes = np.array([len(p.nodes) for p in predictors], dtype=np.int64)
    if sizes.size == 0:
        return
    if np.any(sizes < 1):
        raise _Invalid("a gradient-boosting tree has no nodes")
    nodes = np.concatenate([p.nodes for p in predictors])
    ends = np.repeat(sizes, sizes)  # each node's tree size
    index = np.arange(len(nodes)) - np.repeat(np.cumsum(sizes) - sizes, sizes)  # index in tree
    inner = nodes["is_leaf"] == 0
    left, right = nodes["left"][inner].astype(np.int64), nodes["right"][inner].astype(np.int64)
    own, size = index[inner], ends[inner]
    if np.any((left <= own) | (left >= size) | (right <= own) | (right >= size)):
        raise _Invalid("a gradient-boosting tree's child index is out of range")
    feature = nodes["feature_idx"][inner].astype(np.int64)
    if np.any(feature < 0) or (n_features is not None and np.any(feature >= n_features)):
        raise _Invalid("a gradient-boosting tree's feature index is out of range")
    split_on_category = nodes["is_categorical"][inner] != 0
    if np.any(split_on_category):
        rows = np.repeat(
            [min(len(p.raw_left_cat_bitsets), len(p.binned_left_cat_bitsets)) for p in predictors],
            sizes,
        )[inner][split_on_category]
        bitsets = nodes["bitset_idx"][inner][split_on_category].astype(np.int64)
        if np.any((bitsets < 0) | (bitsets >= rows)):
            raise _Invalid("a gradient-boosting tree's category bitset index is out of range")
        if categorical is None or np.any(~np.asarray(categorical)[feature[split_on_category]]):
            raise _Invalid("a gradient-boosting tree splits on categories of a numeric feature")
    for predictor in predictors:
        for name in ("raw_left_cat_bitsets", "binned_left_cat_bitsets"):
            array = getattr(predictor, name)
            if array.ndim != 2 or (len(array) and array.shape[1] != BITSET_BITS // 32):
                raise _Invalid(f"a gradient-boosting tree's {name} has shape {array.shape}")


def _check_hist_gradient_boosting(estimator: Any, n_features: int | None) -> None:
    import numpy as np

    width = getattr(estimator, "_n_features", None) or n_features
    categorical = getattr(estimator, "is_categorical_", None)
    if categorical is not None:
        categorical = np.asarray(categorical, dtype=bool)
        if width is not None and categorical.shape != (width,):
            raise _Invalid(f"is_categorical_ has shape {categorical.shape}, expected ({width},)")
        mapper = getattr(estimator, "_bin_mapper", None)
        thresholds = getattr(mapper, "bin_thresholds_", None)
        if thresholds is not None:
            if len(thresholds) != len(categorical):
                raise _Invalid("bin thresholds and categorical flags disagree in length")
            for flag, values in zip(categorical, thresholds, strict=True):
                known = np.asarray(values, dtype=float)
                if (
                    flag
                    and known.size
                    and (
                        not np.all(np.isfinite(known))
                        or known.min() < 0
                        or known.max() >= BITSET_BITS
                    )
                ):
                    raise _Invalid("a categorical feature's known categories exceed 0..255")
    per_iteration = getattr(estimator, "n_trees_per_iteration_", None)
    predictors = []
    for iteration in estimator._predictors:
        if per_iteration is not None and len(iteration) != per_iteration:
            raise _Invalid("a boosting iteration has the wrong number of trees")
        for predictor in iteration:
            kind = type(predictor).__name__
            if kind != "TreePredictor":
                raise _Invalid(f"a boosting iteration holds a {kind}")
            predictors.append(predictor)
    _check_predictors(predictors, width, categorical)


def _check_linear(estimator: Any, n_features: int | None) -> None:
    import numpy as np

    coef = np.asarray(estimator.coef_)
    if coef.ndim not in (1, 2) or (n_features is not None and coef.shape[-1] != n_features):
        raise _Invalid(f"coef_ has shape {coef.shape} for {n_features} features")
    intercept = np.atleast_1d(np.asarray(getattr(estimator, "intercept_", 0.0)))
    rows = 1 if coef.ndim == 1 else coef.shape[0]
    if intercept.shape not in ((rows,), (1,)):
        raise _Invalid(f"intercept_ has shape {intercept.shape} for coef_ {coef.shape}")


def _check_pipeline(steps: list[Any]) -> None:
    """The final estimator reads as many features as the step before it makes (when known)."""
    if len(steps) < 2:
        return
    before, last = steps[-2][1], steps[-1][1]
    made = getattr(before, "get_feature_names_out", None)
    wanted = getattr(last, "n_features_in_", None)
    if made is None or wanted is None:
        return
    try:
        width = len(made())
    except Exception:  # a transformer that cannot name its outputs: nothing to compare
        return
    if width != int(wanted):
        raise _Invalid(f"the pipeline makes {width} features, its model reads {wanted}")
