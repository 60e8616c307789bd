"""The card of a trained revision: the parent's card with lineage, method, hyper-parameters and metrics in its YAML."""

from __future__ import annotations

import yaml

from models_hub import cards
from models_hub.models import TreeEntry
from models_hub.storage.blobs import blob_open
from training.models import TrainingRun


def _parent_card(run: TrainingRun) -> cards.Card:
    entry = TreeEntry.objects.filter(commit=run.base_commit, path="README.md").select_related("blob").first()
    if entry is None:
        return cards.Card()
    with blob_open(entry.blob) as handle:
        text = handle.read(cards.MAX_CARD_BYTES).decode("utf-8", errors="replace")
    return cards.parse_card(text, kind="model")


def _rounded(metrics: dict) -> dict:
    return {
        phase: {name: round(float(value), 6) for name, value in values.items()} for phase, values in metrics.items()
    }


def run_card(run: TrainingRun, *, metrics: dict) -> str:
    parent = _parent_card(run)
    base = f"{run.base_repository.repo_id}@{run.base_commit.oid}"
    dataset = f"{run.dataset_repository.repo_id}@{run.dataset_commit.oid}"
    metadata = dict(parent.metadata)
    metadata.update(
        base_model=run.base_repository.repo_id,
        base_model_relation="finetune",
        datasets=[run.dataset_repository.repo_id],
        training={
            "run": run.branch_name,
            "base_model": base,
            "datasets": [dataset],
            "method": run.method,
            "use_lora": run.use_lora,
            "hyperparameters": run.hyperparameters,
            "metrics": _rounded(metrics),
        },
    )
    front = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True)
    rows = [
        f"| {name} | {metrics.get('before', {}).get(name, float('nan')):.4f} | {value:.4f} |"
        for name, value in metrics.get("after", {}).items()
    ]
    section = [
        f"## Training run {run.branch_name}",
        "",
        f"{run.method.upper()} from `{base}` on `{dataset}`" + (" with LoRA (merged)." if run.use_lora else "."),
        f"Progress, samples and promotion (staff): [the run's page](/training/runs/{run.pk}).",
        "",
    ]
    if rows:
        section += ["| metric (validation split) | parent | this revision |", "| --- | --- | --- |", *rows, ""]
    return f"---\n{front}---\n" + "\n".join(section) + "\n" + parent.body.lstrip("\n")
