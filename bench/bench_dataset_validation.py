"""Dataset validation: a big JSON Lines file streamed through the validator the Celery task runs.

Measured: models_hub.dataset_files.jsonl.validate_jsonl (what models_hub.dataset_validate runs on each
JSON Lines blob: Arrow typing, statistics, the row index, line-by-line reading of bad pieces) over a
generated file of chat/SFT rows, in a subprocess of its own, whose peak RSS (ru_maxrss) is reported.
Baseline, same file, same run, also in a subprocess: a bare Python loop that reads every line and
json.loads it. Then a file twice as big with one broken line in its middle, which must be reported with its
line number. Targets: throughput >= 0.3x the baseline; peak RSS < 256 MiB for both files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import MIB

ROOT = Path(__file__).resolve().parent.parent
FULL = os.environ.get("BENCH_FULL") == "1"
SIZE = int(os.environ.get("BENCH_DATASET_BYTES", str(1024 * MIB if FULL else 64 * MIB)))
TARGET_RATIO = 0.3
TARGET_RSS_MIB = 256
BROKEN_LINE = b'{"prompt": "a line cut short", "completion": \n'

BASELINE = """
import json, resource, sys, time
started = time.perf_counter()
lines = 0
with open(sys.argv[1], "rb") as handle:
    for line in handle:
        json.loads(line)
        lines += 1
print(time.perf_counter() - started, lines, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

VALIDATE = """
import json, resource, sys, time
from models_hub.dataset_files.jsonl import validate_jsonl
started = time.perf_counter()
with open(sys.argv[1], "rb") as handle:
    report = validate_jsonl(handle)
stored = json.dumps(report.result())  # what the task stores
seconds = time.perf_counter() - started
problems = [[p.line, p.message] for p in report.problems]
print(json.dumps({"seconds": seconds, "rows": report.rows, "records": report.records, "problems": problems,
                  "problem_count": report.problem_count, "index_points": len(report.row_index),
                  "result_bytes": len(stored), "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def block(rows: int = 20_000) -> bytes:
    """Varied rows as a feedback snapshot's sft split holds them (about 300-900 bytes each)."""
    lines = []
    for i in range(rows):
        prompt = f"Write a short story about a {['cat', 'dog', 'robot', 'dragon', 'sailor'][i % 5]} #{i}. " * (
            1 + i % 3
        )
        completion = " Once upon a time" + " there was a tale that went on" * (1 + i % 11) + f" ({i})."
        row = {
            "prompt": prompt,
            "completion": completion,
            "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}],
            "generation_ids": [f"{i:08x}-0000-4000-8000-000000000000"],
            "rating_ids": [i],
            "agreement": None if i % 4 else 0.75,
            "source": "rating" if i % 7 else "correction",
            "stars": 1 + i % 5,
        }
        lines.append(json.dumps(row).encode() + b"\n")
    return b"".join(lines)


def write_file(path: Path, size: int, *, broken_in_middle: bool = False) -> int | None:
    """Fill `path` with about `size` bytes of rows; returns the broken line's number if asked for one."""
    chunk = block()
    chunk_lines = chunk.count(b"\n")
    written = lines = 0
    broken_line = None
    with open(path, "wb") as handle:
        while written < size:
            if broken_in_middle and broken_line is None and written >= size // 2:
                handle.write(BROKEN_LINE)
                written += len(BROKEN_LINE)
                lines += 1
                broken_line = lines
            handle.write(chunk)
            written += len(chunk)
            lines += chunk_lines
    return broken_line


def run(script: str, path: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-dataset-") as folder:
        path = Path(folder) / "train.jsonl"
        started = time.perf_counter()
        write_file(path, SIZE)
        size = path.stat().st_size
        print(f"file: {size / MIB:,.0f} MiB of JSON Lines, written in {time.perf_counter() - started:.1f} s")
        # Warm the page cache for both runs alike.
        run(BASELINE, path)
        baseline_seconds, lines, baseline_rss = run(BASELINE, path).split()
        baseline_seconds = float(baseline_seconds)
        result = json.loads(run(VALIDATE, path))
        ratio = baseline_seconds / result["seconds"]
        rss_mib = result["rss_kib"] / 1024
        print(
            f"baseline (read + json.loads every line): {baseline_seconds:6.1f} s  {size / MIB / baseline_seconds:6.1f} MiB/s"
            f"  {int(lines):,} lines  peak RSS {int(baseline_rss) / 1024:.0f} MiB"
        )
        print(
            f"validation (validate_jsonl + result):     {result['seconds']:6.1f} s  {size / MIB / result['seconds']:6.1f} MiB/s"
            f"  {result['rows']:,} rows  peak RSS {rss_mib:.0f} MiB  index {result['index_points']} points"
            f"  result {result['result_bytes'] / 1024:.0f} KiB"
        )
        print(f"throughput ratio: {ratio:.2f}x (target >= {TARGET_RATIO}x)")
        ok = ratio >= TARGET_RATIO and rss_mib < TARGET_RSS_MIB and result["problem_count"] == 0
        path.unlink()

        broken = Path(folder) / "broken.jsonl"
        expected_line = write_file(broken, 2 * SIZE, broken_in_middle=True)
        broken_result = json.loads(run(VALIDATE, broken))
        broken_rss = broken_result["rss_kib"] / 1024
        found = broken_result["problems"]
        reported = bool(found) and found[0][0] == expected_line and broken_result["problem_count"] == 1
        print(
            f"{broken.stat().st_size / MIB:,.0f} MiB with one broken line (line {expected_line:,}): "
            f"{'reported at line ' + format(found[0][0], ',') if found else 'NOT reported'}"
            f" ({found[0][1] if found else '-'}), {broken_result['problem_count']} problem(s),"
            f" {broken_result['seconds']:.1f} s, peak RSS {broken_rss:.0f} MiB"
        )
        ok = ok and reported and broken_rss < TARGET_RSS_MIB
    print(f"peak RSS target: < {TARGET_RSS_MIB} MiB")
    print("targets met" if ok else "targets NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
