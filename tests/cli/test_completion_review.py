"""Completion's reliance on Typer's private classes: bash words glued back, and no failure
when a Typer release moves the classes (the CLI then completes as Typer does)."""

from __future__ import annotations

import pytest

from mlops.cli import completion


@pytest.mark.parametrize(
    ("args", "incomplete", "expected"),
    [
        (["--set", "model.estimator", "="], "ra", (["--set"], "model.estimator=ra", 16)),
        (["--set", "model.estimator"], "=", (["--set"], "model.estimator=", 16)),
        (["serve", "--model", "models", ":"], "/pen", (["serve", "--model"], "models:/pen", 7)),
        (["card"], "", (["card"], "", 0)),
        (["card"], "@ch", (["card"], "@ch", 0)),
    ],
)
def test_bash_words_split_at_breaks_are_glued_back(
    args: list[str], incomplete: str, expected: tuple[list[str], str, int]
) -> None:
    assert completion._glue(args, incomplete) == expected


def test_the_installed_typer_has_the_classes_completion_uses() -> None:
    from typer._click.shell_completion import get_completion_class

    assert completion.use_bash_word_breaks() is True
    bash = get_completion_class("bash")
    assert bash is not None and bash.__module__ == completion.__name__


def test_a_typer_without_those_classes_leaves_typers_bash_completion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import typer._completion_classes as classes
    from typer._click.shell_completion import add_completion_class, get_completion_class

    add_completion_class(classes.BashComplete, "bash")
    monkeypatch.delattr(classes, "BashComplete")
    assert completion.use_bash_word_breaks() is False
    bash = get_completion_class("bash")
    assert bash is not None and bash.__module__ == classes.__name__
