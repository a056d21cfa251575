"""The error hierarchy and exit codes: the one contract between the library and the CLI."""

from __future__ import annotations

import os
import re
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes (see DESIGN.md section 2)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    CHECK_FAILED = 3


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its type): enough for a one-line error."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def one_line(exc: BaseException) -> str:
    """An exception's whole message on one line, keeping the advice a wrapped tool prints below
    its first line: DVC's "Create a default remote with" + the command, indented, on the next
    line becomes "Create a default remote with: dvc remote add ..."."""
    raw = [line for line in _ANSI.sub("", str(exc)).strip().splitlines() if line.strip()]
    if not raw:
        return type(exc).__name__
    text = raw[0].strip()
    for line in raw[1:]:
        if not text[-1].isalnum():  # "...:", "...." or "...?": the next part simply follows
            joint = " "
        elif line[:1].isspace():  # an indented block (a command) introduced by the sentence
            joint = ": "
        else:  # items of a list, one per line
            joint = "; "
        text += joint + line.strip()
    return text


class MlopsError(Exception):
    """An expected error: the message tells the user what to fix."""

    exit_code: ExitCode = ExitCode.ERROR


class ConfigError(MlopsError):
    """A params or config file is missing, unparseable or invalid.

    `ConfigError(a, b, ...)` carries several problems at once (one line each in `problems`);
    its message is the problems joined by newlines.
    """

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems: list[str] = list(problems)


class DataError(MlopsError):
    """An input dataset is missing, unreadable or unusable."""


class StageOrderError(MlopsError):
    """A stage ran before the stage whose output it needs."""


class TrackingError(MlopsError):
    """The MLflow tracking store cannot be reached or used."""


class RegistryError(MlopsError):
    """The MLflow Model Registry cannot be reached, or a model/version/alias is missing."""


class ModelLoadError(MlopsError):
    """A model artifact is missing, corrupt or not trusted."""


class PromotionConflictError(MlopsError):
    """Another promotion holds the lock, or the champion moved while we decided."""


_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]+(?::[^/\s@]*)?@")
_SECRET_ENV = (
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "MLOPS_PII_KEY",
    "GITHUB_TOKEN",
    "GH_TOKEN",
)
#: The variables whose values are redacted (mlops.logs checks for them before redacting).
SECRET_ENV = _SECRET_ENV


def redact_secrets(text: str) -> str:
    """Hide `user:password@` in URLs and the values of known secret variables."""
    text = _CREDENTIALS.sub(r"\g<scheme>***@", text)
    for name in _SECRET_ENV:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text
