"""Shared by bench_training.py (CPU) and gpu_training.py (CUDA): a throw-away Flywheel with a model and an SFT
dataset committed, a training run through the job, and the same trainer called directly on the same files."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_in(data_dir: Path, *, threads: int) -> None:
    """Django on the embedded defaults (SQLite, local blobs) in `data_dir`, migrated, whatever this shell has set."""
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "S3_BUCKET", "CACHE_URL"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "FLYWHEEL_DATA_DIR": str(data_dir),
            "SECRET_KEY": "bench-only-secret-key",
            "LOG_LEVEL": "WARNING",
            "FLYWHEEL_TRAINING_THREADS": str(threads),
            "FLYWHEEL_TRAINING_MIN_ROWS": "1",
        }
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", "--noinput", verbosity=0)


def build_gpt2(folder: Path, *, corpus: list[str], vocab: int, n_embd: int, n_layer: int, n_head: int, positions: int):
    """A GPT-2 with random weights and a BPE tokenizer trained on `corpus`; returns the parameter count."""
    from safetensors import safe_open

    from inference.tests.tiny_models import build_tiny_model

    build_tiny_model(folder, corpus=corpus, vocab_size=vocab, size=(n_embd, n_layer, n_head, positions))
    with safe_open(folder / "model.safetensors", "pt") as weights:
        # Tied input and output embeddings are stored once, so this counts each parameter once.
        return sum(math.prod(weights.get_slice(name).get_shape()) for name in weights.keys())  # noqa: SIM118


def sft_rows(texts: list[str]) -> list[dict]:
    """Prompt/completion rows cut from the texts (the first few words are the prompt)."""
    rows = []
    for text in texts:
        words = text.split(" ")
        cut = max(1, min(6, len(words) // 3))
        rows.append({"prompt": " ".join(words[:cut]), "completion": " " + " ".join(words[cut:])})
    return rows


def commit_model_and_dataset(model_dir: Path, rows: list[dict], validation: list[dict]):
    """A staff user, the model repository and a validated dataset in the snapshot layout; returns them."""
    from accounts.models import User
    from models_hub import services
    from models_hub.models import DatasetValidation
    from models_hub.services.dataset_validation import dataset_validation_run
    from models_hub.storage.blobs import blob_store_bytes

    user = User.objects.create_user(username="bench", email="bench@example.com", password="bench-pw", is_staff=True)

    def repo_with(kind: str, name: str, files: dict[str, bytes]):
        repo = services.repo_create(kind=kind, namespace=user.username, name=name, creator=user)
        additions = [services.FileAddition(path, blob_store_bytes(data)) for path, data in files.items()]
        commit = services.commit_create(repo=repo, author=user, title="Add files", additions=additions)
        return repo, commit

    model_files = {p.name: p.read_bytes() for p in model_dir.iterdir() if p.is_file()}
    model_files["README.md"] = b"---\npipeline_tag: text-generation\nlibrary_name: transformers\n---\n# bench\n"
    card = (
        "---\nconfigs:\n- config_name: sft\n  data_files:\n  - {split: train, path: sft/train.jsonl}\n"
        "  - {split: validation, path: sft/validation.jsonl}\n---\n# bench data\n"
    )
    data_files = {
        "README.md": card.encode(),
        "sft/train.jsonl": "".join(json.dumps(r) + "\n" for r in rows).encode(),
        "sft/validation.jsonl": "".join(json.dumps(r) + "\n" for r in validation).encode(),
    }
    model, _ = repo_with("model", "bench-model", model_files)
    dataset, dataset_commit = repo_with("dataset", "bench-data", data_files)
    dataset_validation_run(validation_id=DatasetValidation.objects.get(commit=dataset_commit).pk)
    return user, model, dataset


def run_through_job(*, user, model, dataset, hyperparameters: dict):
    """A run started by the service and executed by the Celery task (in this process); returns the run."""
    from training.models import TrainingRun
    from training.services import training_run_start
    from training.tasks import training_run_execute

    run = training_run_start(
        user=user,
        base_repository=model,
        revision="main",
        dataset_repository=dataset,
        dataset_revision="main",
        method="sft",
        hyperparameters=hyperparameters,
    )
    training_run_execute.apply(args=[run.pk])
    return TrainingRun.objects.get(pk=run.pk)


def run_directly(*, model_dir: Path, rows: list[dict], validation: list[dict], hyperparameters: dict, threads: int):
    """The same trainer on the same weights and rows, no Flywheel around it; returns its FinetuneResult."""
    from training.hyperparameters import hyperparameters_clean
    from training.trainers.finetune import FinetuneSpec, finetune

    folder = Path(tempfile.mkdtemp(prefix="direct-"))
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in validation))
    spec = FinetuneSpec(
        method="sft",
        base_dir=model_dir,
        train_files=[folder / "train.jsonl"],
        validation_files=[folder / "validation.jsonl"],
        run_dir=folder / "run",
        hyperparameters=hyperparameters_clean(hyperparameters, method="sft"),
        threads=threads,
        samples=0,
    )
    return finetune(spec)
