"""Which paths a .gitattributes tracks with Git LFS, matched as git's wildmatch does."""

from __future__ import annotations

import pytest

from models_hub.gitattributes import DEFAULT_GITATTRIBUTES, is_lfs_file, parse_lfs_rules

ATTRIBUTES = DEFAULT_GITATTRIBUTES.decode() + "\n".join(
    [
        "# a comment",
        "saved_model/**/* filter=lfs diff=lfs merge=lfs -text",
        "*tfevents* filter=lfs",
        "/top/*.txt filter=lfs",
        "big/** filter=lfs",
        "*.zip -filter",
        "x[ab].dat filter=lfs",
        "y[!ab].dat filter=lfs",
        '"with space.txt" filter=lfs',
        "folder/ filter=lfs",
        "!negated.txt filter=lfs",
        "*.md text",
    ]
)


@pytest.mark.parametrize(
    ("path", "tracked"),
    [
        ("a.bin", True),
        ("deep/er/a.bin", True),  # no slash in the pattern: any folder
        ("a.bin/readme.txt", False),  # a folder's attributes do not reach inside it
        ("model.safetensors", True),
        ("x.tar.gz", True),
        ("x.gz", False),
        ("saved_model/variables/v.data", True),
        ("elsewhere/saved_model/v.data", False),  # a slash in the pattern: from the root
        ("logs/events.out.tfevents.123", True),
        ("top/a.txt", True),
        ("sub/top/a.txt", False),
        ("top/sub/a.txt", False),  # '*' never crosses a '/'
        ("big/a/b/c.txt", True),
        ("big", False),
        ("archive.zip", False),  # a later line unsets the filter
        ("xa.dat", True),
        ("xc.dat", False),
        ("ya.dat", False),
        ("yc.dat", True),
        ("docs/with space.txt", True),
        ("folder/a.txt", False),  # trailing slash: folders only, which carry no attributes
        ("negated.txt", False),  # negative patterns are forbidden in .gitattributes
        ("README.md", False),
    ],
)
def test_lfs_patterns_match_as_git_does(path, tracked):
    assert parse_lfs_rules(ATTRIBUTES).tracks(path) is tracked


def test_size_threshold_and_empty_files(settings):
    settings.FLYWHEEL_LFS_DISPLAY_THRESHOLD = 100
    rules = parse_lfs_rules("*.bin filter=lfs\n")

    assert is_lfs_file(rules, "notes.txt", 100)
    assert not is_lfs_file(rules, "notes.txt", 99)
    assert is_lfs_file(rules, "w.bin", 1)
    assert not is_lfs_file(rules, "w.bin", 0)  # git-lfs leaves empty files alone


def test_hostile_patterns_match_in_linear_time():
    # With a backtracking regex engine this pair takes longer than the age of the universe.
    rules = parse_lfs_rules("\n".join(["*a*a*a*a*a*a*a*a*a*a*b filter=lfs"] * 500))

    assert not rules.tracks("a/" * 300 + "a" * 250)
    assert rules.tracks("aaaaaaaaaab")


def test_rules_beyond_the_engine_budget_fall_back_to_the_size_rule(settings):
    settings.FLYWHEEL_LFS_DISPLAY_THRESHOLD = 100
    rules = parse_lfs_rules("\n".join(f"*a*a*a*a*a*a*a*a*b{i} filter=lfs" for i in range(5000)))

    assert not rules.tracks("aaaaaaaab0")  # refused whole by RE2's memory budget, not an error
    assert is_lfs_file(rules, "aaaaaaaab0", 100)
