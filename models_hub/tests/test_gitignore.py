"""A repository's .gitignore, applied to the paths of a preupload."""

from __future__ import annotations

import pytest

from models_hub.errors import BadRequest
from models_hub.gitignore import gitignore_spec


def test_git_rules_with_invalid_lines_skipped_as_git_does():
    spec = gitignore_spec("# build output\n*.log\n!keep.log\nbuild/\n!\nbroken\\\n/only-root.txt\n")

    ignored = {
        p for p in ["a.log", "d/keep.log", "build/x/y", "only-root.txt", "d/only-root.txt", "x"] if spec.match_file(p)
    }

    assert ignored == {"a.log", "build/x/y", "only-root.txt"}


def test_hostile_patterns_match_in_linear_time():
    # With a backtracking regex engine this takes longer than the age of the universe.
    spec = gitignore_spec("\n".join(["*a*a*a*a*a*a*a*a*a*a*b"] * 100))

    assert not spec.match_file("a/" * 300 + "a" * 250)


def test_too_many_patterns_are_refused():
    with pytest.raises(BadRequest, match="more than 1,000 patterns"):
        gitignore_spec("\n".join(f"*.ext{i}" for i in range(1001)))
