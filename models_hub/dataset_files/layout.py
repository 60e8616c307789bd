"""Which files make which config and split of a dataset: the card's `configs:`, else the file names.

As on the public hub: a card may list configs, each with `data_files` (a path or glob, a list of them,
or a list of {split, path}) and an optional `data_dir`; without `configs:`, files named for a split
(`train.jsonl`, `data/validation-00000.parquet`, `test/part.csv`, `my_dev_set.tsv`) make one `default`
config, and when no file names a split every data file is `train`.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from functools import lru_cache

FORMATS_BY_EXTENSION = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
}
# Data files the hub's loaders read but this viewer does not check (yet): listed, not validated.
UNCHECKED_EXTENSIONS = frozenset({".txt", ".arrow", ".gz", ".zst", ".bz2", ".xz", ".zip", ".tar", ".webdataset"})
SPLIT_KEYWORDS = {
    "train": ("train", "training"),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test", "testing", "eval", "evaluation"),
}
_SEPARATORS = re.compile(r"[-._ 0-9]+")
MAX_CONFIGS = 100
MAX_PATTERNS = 100


@dataclass
class SplitFiles:
    name: str
    files: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)


@dataclass
class ConfigFiles:
    name: str
    splits: list[SplitFiles] = field(default_factory=list)
    default: bool = False


@dataclass
class Layout:
    configs: list[ConfigFiles]
    problems: list[str]  # about the card's configs: a pattern matching nothing, a malformed entry
    from_card: bool


def file_format(path: str) -> str | None:
    """'jsonl', 'csv', 'tsv' or 'parquet' by the file's extension, None for anything else."""
    return FORMATS_BY_EXTENSION.get(posixpath.splitext(path)[1].lower())


def is_data_file(path: str) -> bool:
    name = posixpath.basename(path)
    if any(part.startswith((".", "__")) for part in path.split("/")):
        return False
    extension = posixpath.splitext(name)[1].lower()
    return extension in FORMATS_BY_EXTENSION or extension in UNCHECKED_EXTENSIONS


@lru_cache(maxsize=512)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """fsspec-style globs: `*` and `?` stay within a folder, `**` crosses folders, `[..]` is a class."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


def glob_match(pattern: str, paths: list[str]) -> list[str]:
    pattern = pattern.strip().removeprefix("./").strip("/")
    if not any(char in pattern for char in "*?["):
        prefix = pattern + "/"
        return [p for p in paths if p == pattern or p.startswith(prefix)]
    regex = _glob_regex(pattern)
    return [p for p in paths if regex.match(p)]


def split_of(path: str) -> str | None:
    """The split a file's name or folder names, by the hub's keywords between separators."""
    parts = path.lower().split("/")
    parts[-1] = posixpath.splitext(parts[-1])[0]
    words = [word for part in parts for word in _SEPARATORS.split(part)]
    for split, keywords in SPLIT_KEYWORDS.items():
        if any(word in keywords for word in words):
            return split
    return None


def _as_patterns(value: object) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    return None


def _card_splits(entry: dict, problems: list[str], name: str) -> list[tuple[str, list[str]]] | None:
    """[(split, patterns)] of one `configs:` entry; None when it gives no data_files."""
    data_files = entry.get("data_files")
    data_dir = entry.get("data_dir")
    if data_dir is not None and not isinstance(data_dir, str):
        problems.append(f"Config '{name}': data_dir must be a folder path.")
        data_dir = None
    prefix = (data_dir.strip("/") + "/") if data_dir and data_dir.strip("/") else ""
    if data_files is None:
        return [(None, [prefix + "**"])] if prefix else None  # the folder's files, split by their names
    splits: list[tuple[str, list[str]]] = []
    simple = _as_patterns(data_files)
    if simple is not None:
        splits.append(("train", simple))
    elif isinstance(data_files, dict):
        for split, value in data_files.items():
            patterns = _as_patterns(value)
            if patterns is None:
                problems.append(f"Config '{name}': data_files of split '{split}' must be a path or a list of paths.")
                continue
            splits.append((str(split), patterns))
    elif isinstance(data_files, list):
        for item in data_files:
            patterns = _as_patterns(item.get("path")) if isinstance(item, dict) else None
            if patterns is None:
                problems.append(f"Config '{name}': each data_files entry needs a 'split' and a 'path'.")
                continue
            splits.append((str(item.get("split") or "train"), patterns))
    else:
        problems.append(f"Config '{name}': data_files must be a path, a list, or a list of {{split, path}}.")
    return [(split, [prefix + p.strip().lstrip("/") for p in patterns][:MAX_PATTERNS]) for split, patterns in splits]


def _by_file_names(name: str, paths: list[str]) -> ConfigFiles:
    config = ConfigFiles(name=name)
    named: dict[str, list[str]] = {}
    for path in paths:
        split = split_of(path)
        if split is not None:
            named.setdefault(split, []).append(path)
    if not named and paths:
        named["train"] = list(paths)
    for split in SPLIT_KEYWORDS:
        if split in named:
            config.splits.append(SplitFiles(name=split, files=sorted(named[split])))
    return config


def dataset_layout(card_metadata: dict, paths: list[str]) -> Layout:
    """The configs and splits of a commit whose files are `paths`, given its card's metadata."""
    data_paths = sorted(p for p in paths if is_data_file(p))
    entries = card_metadata.get("configs") if isinstance(card_metadata, dict) else None
    if not entries:
        configs = [_by_file_names("default", data_paths)] if data_paths else []
        return Layout(configs=configs, problems=[], from_card=False)
    problems: list[str] = []
    configs: list[ConfigFiles] = []
    if not isinstance(entries, list):
        return Layout(configs=[], problems=["configs: must be a list of {config_name, data_files}."], from_card=True)
    for entry in entries[:MAX_CONFIGS]:
        if not isinstance(entry, dict) or not isinstance(entry.get("config_name", "default"), str):
            problems.append("Each entry of configs: needs a config_name.")
            continue
        name = entry.get("config_name") or "default"
        splits = _card_splits(entry, problems, name)
        if splits is None:
            configs.append(_by_file_names(name, data_paths))
            continue
        config = ConfigFiles(name=name, default=entry.get("default") is True)
        for split, patterns in splits:
            matched = sorted({p for pattern in patterns for p in glob_match(pattern, data_paths)})
            if split is None:  # data_dir alone: its files, split by their names
                config.splits.extend(_by_file_names(name, matched).splits)
                continue
            if not matched:
                problems.append(f"Config '{name}', split '{split}': no data file matches {', '.join(patterns)}.")
            existing = next((s for s in config.splits if s.name == split), None)
            if existing is None:
                config.splits.append(SplitFiles(name=split, files=matched, patterns=patterns))
            else:
                existing.files = sorted(set(existing.files) | set(matched))
        if not config.splits:
            problems.append(f"Config '{name}' names no data files.")
        configs.append(config)
    configs.sort(key=lambda config: not config.default)
    return Layout(configs=configs, problems=problems, from_card=True)
