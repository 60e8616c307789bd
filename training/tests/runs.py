"""Training runs for tests of what comes after training (pages, promotion): rows in the states a job leaves.

The job itself is tested in its own files; here a run's output is a real commit on branch run-<id>, made
through the real commit service, so promotion moves real refs.
"""

from __future__ import annotations

from django.utils import timezone

from conftest import make_commit, make_repo
from models_hub import services
from models_hub.models import Ref, Repository
from training.models import TrainingRun


def safetensors_bytes(values: bytes) -> bytes:
    """A valid safetensors file holding one tensor of four float32s, from 16 bytes."""
    header = b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'
    return len(header).to_bytes(8, "little") + header + values.ljust(16, b"\0")[:16]


BASE_FILES = {
    "config.json": b'{"model_type": "gpt2"}\n',
    "model.safetensors": safetensors_bytes(b"base"),
    "README.md": b"# Tiny\n",
}
DATASET_FILES = {"sft/train.jsonl": b'{"prompt": "a", "completion": " b"}\n'}


def make_model_and_dataset(owner) -> tuple[Repository, Repository]:
    model = make_repo(owner=owner, name="tiny")
    make_commit(repo=model, author=owner, files=BASE_FILES, title="Add the model")
    dataset = make_repo(owner=owner, name="feedback", kind="dataset")
    make_commit(repo=dataset, author=owner, files=DATASET_FILES, title="Snapshot")
    return model, dataset


def head_of(repo: Repository, branch: str = "main"):
    return Ref.objects.get(repository=repo, kind=Ref.Kind.BRANCH, name=branch).commit


def make_run(
    *,
    model: Repository,
    dataset: Repository,
    user,
    status: str = TrainingRun.Status.SUCCEEDED,
    weights: bytes | None = None,
    **fields,
) -> TrainingRun:
    """A run of `model`'s main on `dataset`'s main; a succeeded one has committed `weights` to branch run-<id>."""
    now = timezone.now()
    finished = status in TrainingRun.FINISHED
    run = TrainingRun.objects.create(
        base_repository=model,
        base_commit=head_of(model),
        dataset_repository=dataset,
        dataset_commit=head_of(dataset),
        method=fields.pop("method", TrainingRun.Method.SFT),
        hyperparameters=fields.pop("hyperparameters", {"max_steps": 4, "learning_rate": 0.001}),
        status=status,
        created_by=user,
        created_at=now,
        started_at=None if status == TrainingRun.Status.QUEUED else now,
        finished_at=now if finished else None,
        **fields,
    )
    if status == TrainingRun.Status.SUCCEEDED:
        services.branch_create(repo=model, name=run.branch_name, start_revision=run.base_commit.oid)
        run.output_commit = make_commit(
            repo=model,
            author=user,
            files={
                "model.safetensors": weights or safetensors_bytes(b"trained"),
                "README.md": b"---\nlicense: mit\n---\n# Trained\n",
            },
            title=f"Train {run.branch_name}",
            branch=run.branch_name,
        )
        run.output_branch = run.branch_name
        run.metrics = {"before": {"eval_loss": 3.2, "perplexity": 24.5}, "after": {"eval_loss": 2.1, "perplexity": 8.2}}
        run.save(update_fields=["output_commit", "output_branch", "metrics"])
    return run
