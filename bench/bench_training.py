"""Training throughput through Flywheel's job against the same trainer called directly, in the same run.

    .venv/bin/python -m bench.bench_training                # quick: 40 steps a round, 3 rounds
    BENCH_FULL=1 .venv/bin/python -m bench.bench_training   # 120 steps a round, 5 rounds

It migrates a throw-away FLYWHEEL_DATA_DIR (SQLite), builds a small GPT-2 (random weights, 4 layers x 128) and
an SFT dataset of story rows, commits both, and alternates:

- job: `training_run_start` then the Celery task `training.run_execute` (in this process): snapshot of the
  base commit, dataset files from blob storage, the progress reporter thread writing to the database, the
  cancel check every step, checkpoints, then the commit of the result;
- direct: `training.trainers.finetune.finetune` on the same weights and rows with no reporter.

Throughput is training tokens (non-padding) over the trainer's training loop on both sides. Judged per CPU
second of the whole process (every thread: the job's reporter thread and database writes count against it),
median of the rounds, because on a shared machine other people's load moves wall-clock rates by 2x from one
round to the next; tokens per wall second (best round of each) is printed beside it. Target: job / direct
>= 0.95 (the platform's overhead at most 5%). Wall-clock times of the whole
job (including evaluation before/after, sample generations and the commit) and of the direct call are
printed for information.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.training_setup import (
    build_gpt2,
    commit_model_and_dataset,
    django_in,
    run_directly,
    run_through_job,
    sft_rows,
)

TARGET = 0.95


def main() -> int:
    full = os.environ.get("BENCH_FULL") == "1"
    steps = int(os.environ.get("BENCH_TRAINING_STEPS", 120 if full else 40))
    rounds = 5 if full else 3
    threads = int(os.environ.get("BENCH_TRAINING_THREADS", 1))
    data_dir = Path(tempfile.mkdtemp(prefix="bench-training-"))
    django_in(data_dir, threads=threads)
    import torch

    from training.trainers.story_corpus import stories, story_text

    torch.set_num_threads(threads)
    texts = [story_text(s) for s in stories(600, seed=7)]
    model_dir = data_dir / "model"
    params = build_gpt2(model_dir, corpus=texts, vocab=2048, n_embd=128, n_layer=4, n_head=4, positions=256)
    rows = sft_rows(texts)
    train, validation = rows[:560], rows[560:]
    hyperparameters = {
        "max_steps": steps,
        "learning_rate": 1e-3,
        "per_device_train_batch_size": 8,
        "max_length": 256,
        "save_steps": 25,
        "seed": 3,
    }
    user, model, dataset = commit_model_and_dataset(model_dir, train, validation)
    print(
        f"model: GPT-2 {params / 1e6:.1f}M parameters; {len(train)} train rows; {steps} steps a round; "
        f"{threads} torch thread(s); {rounds} rounds, alternating"
    )
    job_rates, direct_rates, job_cpu_rates, direct_cpu_rates = [], [], [], []
    for round_number in range(1, rounds + 1):
        started = time.perf_counter()
        run = run_through_job(user=user, model=model, dataset=dataset, hyperparameters=hyperparameters)
        job_wall = time.perf_counter() - started
        if run.status != "succeeded":
            print(f"the run {run.status}: {run.error}")
            return 1
        measured = run.metrics["train"]
        started = time.perf_counter()
        direct = run_directly(
            model_dir=model_dir, rows=train, validation=validation, hyperparameters=hyperparameters, threads=threads
        )
        direct_wall = time.perf_counter() - started
        job_rates.append(measured["tokens_per_second"])
        direct_rates.append(direct.tokens_per_second)
        job_cpu_rates.append(measured["tokens"] / measured["cpu_seconds"])
        direct_cpu_rates.append(direct.train_tokens / direct.train_cpu_seconds)
        print(
            f"round {round_number}: job {job_rates[-1]:7.0f} tokens/s, {job_cpu_rates[-1]:7.0f} per CPU s "
            f"(whole job {job_wall:5.1f} s) | direct {direct_rates[-1]:7.0f} tokens/s, "
            f"{direct_cpu_rates[-1]:7.0f} per CPU s (whole call {direct_wall:5.1f} s) | {measured['tokens']} tokens"
        )
    wall_ratio = max(job_rates) / max(direct_rates)
    cpu_ratio = statistics.median(job_cpu_rates) / statistics.median(direct_cpu_rates)
    met = cpu_ratio >= TARGET
    print(f"\njob / direct, tokens per CPU second of the process (medians): {cpu_ratio:.3f} (target >= {TARGET})")
    paired = statistics.median(j / d for j, d in zip(job_rates, direct_rates, strict=True))
    print(f"job / direct, tokens per wall second (best rounds; other load on the machine moves it): {wall_ratio:.3f}")
    print(f"job / direct, tokens per wall second (median of the rounds, each against its neighbour): {paired:.3f}")
    print("target met" if met else "target NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
