"""A ~92M-parameter GPT-2 trained on CUDA in bf16 through Flywheel's training job: tokens/s and model FLOPs
utilisation (MFU), and the same trainer called directly for the job's overhead. For a machine with a GPU
(not run in CI: `python -m bench` does not pick it up, its name does not start with bench_).

    .venv/bin/python -m bench.gpu_training                     # 300 steps, batch 32 x 512 tokens
    GPU_TRAINING_STEPS=1000 GPU_PEAK_TFLOPS=989 .venv/bin/python -m bench.gpu_training

It migrates a throw-away FLYWHEEL_DATA_DIR (SQLite), builds the model (12 layers x 768, 8,192-token BPE trained
on generated stories, random weights) and an SFT dataset of 20,000 story rows, commits both, then runs
`training_run_start` + the Celery task `training.run_execute` in this process (mixed precision: bf16 autocast on
fp32 master weights, as the job does on CUDA). MFU = 6 x parameters x training tokens/s / the GPU's peak dense
bf16 FLOP/s (GPU_PEAK_TFLOPS, default 989 for an H100/H200 SXM); the 6N rule leaves out attention's own FLOPs,
so it slightly understates the work done. Exits non-zero when no CUDA device is present or the run fails.
"""

from __future__ import annotations

import os
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


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("No CUDA device: this benchmark needs a GPU (see bench/README.md).")
        return 1
    steps = int(os.environ.get("GPU_TRAINING_STEPS", 300))
    peak = float(os.environ.get("GPU_PEAK_TFLOPS", 989)) * 1e12
    threads = os.cpu_count() or 1
    data_dir = Path(tempfile.mkdtemp(prefix="gpu-training-"))
    django_in(data_dir, threads=threads)

    from training.trainers.story_corpus import stories, story_text

    texts = [story_text(s) for s in stories(20_000, seed=11)]
    model_dir = data_dir / "model"
    params = build_gpt2(model_dir, corpus=texts[:5000], vocab=8192, n_embd=768, n_layer=12, n_head=12, positions=1024)
    rows = sft_rows(texts)
    train, validation = rows[:19_800], rows[19_800:]
    hyperparameters = {
        "max_steps": steps,
        "learning_rate": 3e-4,
        "per_device_train_batch_size": 32,
        "max_length": 512,
        "save_steps": max(100, steps // 3),
        "logging_steps": 10,
        "warmup_steps": min(50, steps // 10),
        "seed": 5,
    }
    user, model, dataset = commit_model_and_dataset(model_dir, train, validation)
    name = torch.cuda.get_device_name(0)
    print(f"{name}: GPT-2 {params / 1e6:.1f}M parameters, {steps} steps of 32 rows (max 512 tokens), bf16")
    started = time.perf_counter()
    run = run_through_job(user=user, model=model, dataset=dataset, hyperparameters=hyperparameters)
    wall = time.perf_counter() - started
    if run.status != "succeeded":
        print(f"The run {run.status}: {run.error}\n" + "\n".join(run.log_tail[-10:]))
        return 1
    rate = run.metrics["train"]["tokens_per_second"]
    mfu = 6 * params * rate / peak
    direct = run_directly(
        model_dir=model_dir, rows=train, validation=validation, hyperparameters=hyperparameters, threads=threads
    )
    print(f"device: {run.device}")
    print(f"job:    {rate:,.0f} training tokens/s over {run.metrics['train']['seconds']:.1f} s; whole job {wall:.1f} s")
    print(f"MFU:    {mfu:.1%} (6 x {params / 1e6:.1f}M x tokens/s / {peak / 1e12:.0f} TFLOP/s)")
    print(f"direct: {direct.tokens_per_second:,.0f} tokens/s; job / direct {rate / direct.tokens_per_second:.3f}")
    print(f"validation loss {run.metrics['before']['loss']:.3f} -> {run.metrics['after']['loss']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
