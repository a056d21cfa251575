"""Editing `params.yaml` in place: values set, comments, key order and layout kept."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from mlops.errors import ConfigError


def _null(representer: Any, _: None) -> Any:
    """`null` as written (ruamel's default writes nothing after the colon)."""
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def set_values(text: str, section: Sequence[str], values: Mapping[str, Any], *, name: str) -> str:
    """`text` (YAML) with `values` set under the mapping at `section` (created if absent).

    Round-trips with ruamel.yaml: comments, key order and flow style stay as written; keys not
    in `values` are untouched, new keys are appended.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import YAMLError

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=2, offset=0)
    yaml.representer.add_representer(type(None), _null)
    try:
        tree = yaml.load(text)
    except YAMLError as exc:
        raise ConfigError(f"{name}: not valid YAML ({exc})") from exc
    node = tree
    for index, key in enumerate(section):
        child = node.get(key) if isinstance(node, dict) else None
        if child is None:
            child = CommentedMap()
            node[key] = child
        if not isinstance(child, dict):
            where = ".".join(section[: index + 1])
            raise ConfigError(f"{name}: {where} is not a mapping; cannot set values under it")
        node = child
    for key, value in values.items():
        node[key] = value
    out = io.StringIO()
    yaml.dump(tree, out)
    return out.getvalue()
