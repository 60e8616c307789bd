"""Dataset repositories laid out as a feedback snapshot (CONTRACTS A), written directly for tests."""

from __future__ import annotations

import json

from conftest import make_commit, make_repo

CONFIGS = {"sft": "sft", "dpo": "preference", "kto": "kto"}


def snapshot_card(configs=("sft", "preference", "kto"), splits=("train", "validation")) -> bytes:
    lines = ["---", "configs:"]
    for name in configs:
        lines += [f"- config_name: {name}", "  data_files:"]
        lines += [f"  - {{split: {split}, path: {name}/{split}.jsonl}}" for split in splits]
    return ("\n".join([*lines, "---", "# Feedback snapshot", ""])).encode()


def provenance() -> dict:
    return {
        "generation_ids": [],
        "rating_ids": [],
        "model_commits": [],
        "raters": [],
        "agreement": None,
        "source": "rating",
    }


def sft_row(prompt: str, completion: str) -> dict:
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
    return {"prompt": prompt, "completion": completion, "messages": messages, **provenance()}


def preference_row(prompt: str, chosen: str, rejected: str) -> dict:
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected, **provenance()}


def kto_row(prompt: str, completion: str, label: bool) -> dict:
    return {"prompt": prompt, "completion": completion, "label": label, **provenance()}


def jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def snapshot_files(*, config: str, train: list[dict], validation: list[dict]) -> dict[str, bytes]:
    return {
        "README.md": snapshot_card([config]),
        f"{config}/train.jsonl": jsonl(train),
        f"{config}/validation.jsonl": jsonl(validation),
    }


def make_dataset_repo(*, owner, files: dict[str, bytes], name: str = "feedback", validate: bool = True):
    """A dataset repository with one commit, validated here (as the worker would) unless `validate` is False."""
    from models_hub.models import DatasetValidation
    from models_hub.services.dataset_validation import dataset_validation_run

    repo = make_repo(owner=owner, name=name, kind="dataset")
    commit = make_commit(repo=repo, author=owner, files=files, title="Feedback snapshot")
    if validate:
        from models_hub.dataset_selectors import dataset_validation_for
        from tests.conftest import wait_for

        dataset_validation_run(validation_id=DatasetValidation.objects.get(commit=commit).pk)
        # With a real worker running, it may have claimed the validation first: then it finishes it.
        assert wait_for(lambda: not dataset_validation_for(commit).is_pending, timeout=60)
    return repo


def simple_sft_files(rows: int = 12) -> dict[str, bytes]:
    train = [sft_row(f"Once upon a time {i}", " there was a cat.") for i in range(rows)]
    return snapshot_files(config="sft", train=train, validation=train[:2])


def start_run(user, model, dataset, method: str = "sft", *, revision: str = "main", hyperparameters=None, **kwargs):
    """training_run_start on the main revisions, with two steps unless told otherwise."""
    from training.services import training_run_start

    return training_run_start(
        user=user,
        base_repository=model,
        revision=revision,
        dataset_repository=dataset,
        dataset_revision="main",
        method=method,
        hyperparameters={"max_steps": 2} if hyperparameters is None else hyperparameters,
        **kwargs,
    )
