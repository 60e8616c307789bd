"""Which files of a dataset commit a training method reads, and what they hold (the quality gates' facts).

A feedback snapshot (CONTRACTS A) names its configs in README.md's `configs:`; each method reads one of them
(sft, preference, kto) with a train and a validation split. A dataset without `configs:` is read the same way
from the conventional paths `<config>/train.jsonl` and `<config>/validation.jsonl`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from models_hub import cards
from models_hub.models import Commit, TreeEntry
from models_hub.storage.blobs import blob_open

CONFIG_FOR_METHOD = {"sft": "sft", "dpo": "preference", "kto": "kto"}
# The columns each method needs (any one of the alternatives), per TRL 1.16's formats.
COLUMNS_FOR_METHOD = {
    "sft": (("prompt", "completion"), ("messages",), ("text",)),
    "dpo": (("prompt", "chosen", "rejected"),),
    "kto": (("prompt", "completion", "label"),),
}
FORMAT_NAMES = {
    "sft": "prompt/completion, messages or text",
    "dpo": "prompt/chosen/rejected",
    "kto": "prompt/completion/label",
}
PROVENANCE_COLUMNS = frozenset(("generation_ids", "rating_ids", "model_commits", "raters", "agreement", "source"))
# Only JSON Lines are read by the job; the largest file the gates will count (bigger: counted by the job).
MAX_COUNTED_BYTES = 256 * 1024 * 1024


@dataclass
class SplitFiles:
    split: str
    paths: list[str]
    rows: int = 0
    bytes: int = 0
    columns: list[str] = field(default_factory=list)


@dataclass
class DatasetLayout:
    config: str
    splits: dict[str, SplitFiles]

    @property
    def train(self) -> SplitFiles | None:
        return self.splits.get("train")

    @property
    def validation(self) -> SplitFiles | None:
        return self.splits.get("validation")


def _configs(entries: dict[str, TreeEntry]) -> list[dict]:
    readme = entries.get("README.md")
    if readme is None:
        return []
    with blob_open(readme.blob) as handle:
        text = handle.read(cards.MAX_CARD_BYTES).decode("utf-8", errors="replace")
    configs = cards.parse_card(text, kind="dataset").metadata.get("configs")
    return [c for c in configs if isinstance(c, dict)] if isinstance(configs, list) else []


def _split_paths(config: dict) -> dict[str, list[str]]:
    files = config.get("data_files")
    if isinstance(files, str):
        return {"train": [files]}
    if isinstance(files, dict):  # {split: path or [paths]}
        files = [{"split": k, "path": v} for k, v in files.items()]
    result: dict[str, list[str]] = {}
    for item in files if isinstance(files, list) else []:
        if isinstance(item, dict):
            paths = item.get("path")
            paths = [paths] if isinstance(paths, str) else [p for p in paths or [] if isinstance(p, str)]
            result.setdefault(str(item.get("split", "train")), []).extend(paths)
        elif isinstance(item, str):
            result.setdefault("train", []).append(item)
    return result


def dataset_layout(commit: Commit, method: str) -> DatasetLayout:
    """The method's config and its split files at `commit`, with rows and columns counted."""
    config_name = CONFIG_FOR_METHOD[method]
    entries = {e.path: e for e in TreeEntry.objects.filter(commit=commit).select_related("blob")}
    configs = _configs(entries)
    chosen = next((c for c in configs if c.get("config_name") == config_name), None)
    if chosen is None and len(configs) == 1 and configs[0].get("config_name") in (None, "default"):
        chosen = configs[0]
    if chosen is not None:
        split_paths = _split_paths(chosen)
    else:
        split_paths = {s: [f"{config_name}/{s}.jsonl"] for s in ("train", "validation")}
    splits = {}
    for split, paths in split_paths.items():
        present = [p for p in paths if p in entries]
        if not present:
            continue
        files = SplitFiles(split=split, paths=present)
        for path in present:
            _count(entries[path], files)
        splits[split] = files
    return DatasetLayout(config=config_name, splits=splits)


def _count(entry: TreeEntry, files: SplitFiles) -> None:
    files.bytes += entry.blob.size
    if not entry.path.endswith(".jsonl") or entry.blob.size > MAX_COUNTED_BYTES:
        return
    with blob_open(entry.blob) as handle:
        for line in handle:
            if not line.strip():
                continue
            files.rows += 1
            if not files.columns:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict):
                    files.columns = sorted(row)


def format_fits(method: str, columns: list[str]) -> bool:
    return any(set(need) <= set(columns) for need in COLUMNS_FOR_METHOD[method])


def blob_paths(commit: Commit, paths: list[str]) -> dict[str, str]:
    """Local file paths of the given files (the job reads them straight from blob storage)."""
    from django.core.files.storage import default_storage

    entries = TreeEntry.objects.filter(commit=commit, path__in=paths).select_related("blob")
    return {e.path: default_storage.path(e.blob.storage_key) for e in entries}
