"""The multi-GPU path's plumbing (accelerate launch, progress relayed through files, the stop file, the result),
run on the CPU with one process: this machine has no GPU, so DistributedDataParallel itself is not exercised."""

from __future__ import annotations

import json

from training.hyperparameters import hyperparameters_clean
from training.trainers.finetune import FinetuneSpec, Reporter
from training.trainers.launch import finetune_launched


class Recorder(Reporter):
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def started(self, **kwargs) -> None:
        self.events.append(("started", kwargs))

    def logged(self, point) -> None:
        self.events.append(("logged", point))

    def line(self, text: str) -> None:
        self.events.append(("line", text))


def test_a_launched_run_relays_progress_and_returns_the_trained_revision(tmp_path, tiny_model_files):
    base = tmp_path / "base"
    base.mkdir()
    for name, data in tiny_model_files.items():
        (base / name).write_bytes(data)
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"prompt": f"Once {i}", "completion": " a cat."}) + "\n" for i in range(8)))
    spec = FinetuneSpec(
        method="sft",
        base_dir=base,
        train_files=[rows],
        validation_files=[rows],
        run_dir=tmp_path / "run",
        hyperparameters=hyperparameters_clean({"max_steps": 3, "per_device_train_batch_size": 4}, method="sft"),
        threads=1,
        samples=1,
    )
    reporter = Recorder()
    result = finetune_launched(spec, reporter, processes=1, cpu=True)
    assert not result.stopped and result.steps == 3 and result.train_tokens > 0
    assert (result.output_dir / "model.safetensors").exists()
    assert result.metrics["after"]["loss"] < result.metrics["before"]["loss"]
    assert len(result.samples) == 1
    kinds = [kind for kind, _ in reporter.events]
    assert kinds[0] == "line" and "started" in kinds
    assert [point["step"] for kind, point in reporter.events if kind == "logged" and "loss" in point] == [1, 2, 3]
