"""The training job: claim a run, hand paths to the pure trainer, commit what it wrote (filled in next)."""

from __future__ import annotations


def training_run_execute(*, run_id: int) -> str:
    raise NotImplementedError


def training_runs_reap() -> int:
    return 0
