"""The README.md of a snapshot: YAML `configs:` (so `datasets.load_dataset(repo, "sft")` works) with each
config's features, and a body with counts, filters, source commits, time window and licence.

Built only from the snapshot's filters and its data (no build time, no snapshot id), so the same filters over
the same feedback give the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

CONFIGS = ("sft", "preference", "kto")
SPLITS = ("train", "validation")

PROVENANCE_FEATURES = [
    ("generation_ids", "sequence", "string"),
    ("rating_ids", "sequence", "int64"),
    ("model_commits", "sequence", "string"),
    ("raters", "sequence", "string"),
    ("agreement", "dtype", "float64"),
    ("source", "dtype", "string"),
]
FEATURES = {
    "sft": [("prompt", "dtype", "string"), ("completion", "dtype", "string"), ("messages", "messages", "")],
    "preference": [("prompt", "dtype", "string"), ("chosen", "dtype", "string"), ("rejected", "dtype", "string")],
    "kto": [("prompt", "dtype", "string"), ("completion", "dtype", "string"), ("label", "dtype", "bool")],
}
DESCRIPTIONS = {
    "sft": "liked outputs and corrections, as `prompt`/`completion` and as chat `messages`",
    "preference": "`prompt`/`chosen`/`rejected`: thumbs up against thumbs down on the same prompt, corrections "
    "against the output they correct, battle outcomes",
    "kto": "`prompt`/`completion`/`label`: each rated output with its raters' verdict, corrections as desirable",
}


def path_of(config: str, split: str) -> str:
    return f"{config}/{split}.jsonl"


def _quoted(text: str) -> str:
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def _yaml(splits_present: Mapping[str, Sequence[str]], license_id: str) -> list[str]:
    lines = ["---", f"license: {_quoted(license_id)}", "tags:", "- flywheel", "- feedback-snapshot", "configs:"]
    for config, splits in splits_present.items():
        lines += [f"- config_name: {config}", "  data_files:"]
        for split in splits:
            lines += [f"  - split: {split}", f"    path: {path_of(config, split)}"]
    # Declared features: a column that is null on every row of one split (agreement) keeps its type.
    lines.append("dataset_info:")
    for config in splits_present:
        lines += [f"- config_name: {config}", "  features:"]
        for name, kind, dtype in FEATURES[config] + PROVENANCE_FEATURES:
            lines.append(f"  - name: {name}")
            if kind == "messages":
                lines += [
                    "    list:",
                    "    - name: role",
                    "      dtype: string",
                    "    - name: content",
                    "      dtype: string",
                ]
            elif kind == "sequence":
                lines.append(f"    sequence: {dtype}")
            else:
                lines.append(f"    dtype: {dtype}")
    lines.append("---")
    return lines


def card_text(
    *,
    model_id: str,
    license_id: str,
    filters: Mapping,
    counts: Mapping[str, int],
    commits: Sequence[str],
    window: tuple[str, str] | None,
    ratings_used: int,
) -> str:
    present = {c: [s for s in SPLITS if counts.get(f"{c}_{s}", 0)] for c in CONFIGS}
    present = {c: s for c, s in present.items() if s}
    lines = _yaml(present, license_id)
    lines += [
        "",
        f"# Feedback on {model_id}",
        "",
        f"Ratings of [{model_id}](/{model_id})'s outputs on this Flywheel hub, curated into post-training datasets"
        f" by a feedback snapshot. {ratings_used:,} ratings went into the rows below.",
        "",
        "| config | what | train | validation |",
        "| --- | --- | ---: | ---: |",
    ]
    for config in CONFIGS:
        lines.append(
            f"| `{config}` | {DESCRIPTIONS[config]} | {counts.get(f'{config}_train', 0):,}"
            f" | {counts.get(f'{config}_validation', 0):,} |"
        )
    missing = [c for c in CONFIGS if c not in present]
    if missing:
        lines += ["", f"Configs without rows are left out: {', '.join(missing)}. So are empty splits."]
    lines += ["", "```python", "import datasets", ""]
    for config in present:
        lines.append(f'{config} = datasets.load_dataset("<this repository>", "{config}")')
    lines += ["```", "", "## Source", ""]
    lines.append(f"- Model: `{model_id}`")
    lines.append("- Model commits the rated outputs came from:")
    lines += [f"  - `{oid}`" for oid in commits]
    if window:
        lines.append(f"- Ratings last changed between {window[0]} and {window[1]} (UTC).")
    lines += ["", "## Filters", "", "```json", json.dumps(dict(filters), indent=2, sort_keys=True), "```", ""]
    lines += [
        "## Rules",
        "",
        "- Prompts that differ only in case, punctuation or white space (after Unicode NFKC; symbols such as"
        " `+` count) are one prompt;"
        " identical outputs for one prompt are one row listing every source.",
        "- The split is by prompt (a prompt is never in both splits) and deterministic: a prompt goes to"
        " validation when the first 60 bits of the SHA-256 of its normalised text fall below the validation"
        " fraction (at least one prompt does when there are two or more).",
        "- Every row carries `generation_ids`, `rating_ids`, `model_commits`, `raters` (pseudonyms: a keyed hash,"
        " stable for these filters, not reversible), `agreement` (the majority's share of thumbs when two or more"
        " raters gave one) and `source` (`rating`, `correction` or `battle`).",
        "- Ratings of people who opted out of training data use, and of hidden raters unless asked, are left out.",
        "- `completion`, `chosen` and `rejected` are the model's continuation exactly as generated.",
        "",
        "## Licence",
        "",
        f"`{license_id}`: the model's licence"
        + (" (the model states none)" if license_id == "other" else "")
        + ". The ratings and corrections were given on this hub by its users, who can opt out of data use.",
        "",
    ]
    return "\n".join(lines)
