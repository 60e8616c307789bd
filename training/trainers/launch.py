"""Run `finetune` under `accelerate launch` (one process per GPU) and relay its progress through files.

The training job calls `finetune_launched` when a worker has more than one GPU: transformers' Trainer then trains
with DistributedDataParallel across them. Rank 0 appends the reporter's events to a JSON Lines file that the job
tails into the database; the job asks for a stop by creating a file that every rank checks at each step.

    python -m training.trainers.launch <spec.json> <events.jsonl>     (what accelerate starts on every rank)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from training.trainers.finetune import FinetuneResult, FinetuneSpec, Reporter, finetune

STOP_FILE = "stop"


class FileReporter(Reporter):
    def __init__(self, events: Path) -> None:
        self.events = events
        self.stop_file = events.parent / STOP_FILE
        self.rank = int(os.environ.get("RANK", "0"))

    def _write(self, kind: str, value: Any) -> None:
        if self.rank == 0:
            with open(self.events, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({kind: value}) + "\n")

    def started(self, *, total_steps: int, device: str, resumed_from: int) -> None:
        self._write("started", {"total_steps": total_steps, "device": device, "resumed_from": resumed_from})

    def logged(self, point: dict[str, Any]) -> None:
        self._write("logged", point)

    def line(self, text: str) -> None:
        self._write("line", text)

    def should_stop(self) -> bool:
        return self.stop_file.exists()


def _spec_from_json(data: dict) -> FinetuneSpec:
    for name in ("base_dir", "run_dir"):
        data[name] = Path(data[name])
    for name in ("train_files", "validation_files"):
        data[name] = [Path(p) for p in data[name]]
    return FinetuneSpec(**data)


def finetune_launched(spec: FinetuneSpec, reporter: Reporter, *, processes: int, cpu: bool = False) -> FinetuneResult:
    """`finetune(spec)` in `processes` processes started by accelerate, relaying progress to `reporter`."""
    folder = spec.run_dir / "launch"
    folder.mkdir(parents=True, exist_ok=True)
    events = folder / "events.jsonl"
    events.write_text("")
    (folder / STOP_FILE).unlink(missing_ok=True)
    spec_file = folder / "spec.json"
    spec_file.write_text(json.dumps(asdict(spec), default=str))
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(processes)]
    command += ["--cpu"] if cpu else (["--multi_gpu"] if processes > 1 else [])
    command += ["-m", "training.trainers.launch", str(spec_file), str(events)]
    process = subprocess.Popen(command)
    result: dict | None = None
    offset = 0
    while True:
        finished = process.poll() is not None
        with open(events, encoding="utf-8") as handle:
            handle.seek(offset)
            chunk = handle.read()
        complete = chunk[: chunk.rfind("\n") + 1]  # a line still being written waits for the next look
        offset += len(complete.encode("utf-8"))
        for line in complete.splitlines():
            event = json.loads(line)
            if "started" in event:
                reporter.started(**event["started"])
            elif "logged" in event:
                reporter.logged(event["logged"])
            elif "line" in event:
                reporter.line(event["line"])
            elif "result" in event:
                result = event["result"]
        if reporter.should_stop():
            (folder / STOP_FILE).touch()
        if finished:
            break
        time.sleep(0.5)
    if process.returncode != 0 or result is None:
        raise RuntimeError(f"The training processes exited with status {process.returncode}.")
    output = result.pop("output_dir")
    return FinetuneResult(output_dir=Path(output) if output else None, **result)


def main(argv: list[str]) -> int:
    spec = _spec_from_json(json.loads(Path(argv[1]).read_text()))
    reporter = FileReporter(Path(argv[2]))
    result = finetune(spec, reporter)
    if reporter.rank == 0:
        data = asdict(result)
        data["output_dir"] = str(result.output_dir) if result.output_dir else None
        reporter._write("result", data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
