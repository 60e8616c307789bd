"""Card metadata: what hostile YAML costs, next to the largest legitimate card, in the same run.

Every surface (the Hub commit, /api/validate-yaml, the REST API, the editor) reads README.md's
metadata through models_hub.cards.parse_card, so this measures that function's CPU time (best of 3).
Baseline: a 250 KB card of evaluation results (model-index), about the largest a real card gets.
Targets: every hostile input is refused for at most the baseline's cost; the most expensive input
that is accepted (100,000 parser events) costs at most 3x the baseline.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

import yaml

from models_hub import card_yaml
from models_hub.cards import parse_card

HOSTILE = {
    "13 KB unclosed [": "a: " + "[" * 13_000,
    "6 KB deeply nested list": "a: " + "[" * 3_000 + "]" * 3_000,
    '18 KB [ "]" (quoted closers)': "a: " + '[ "]" ' * 3_000,
    "40 KB block sequences": "a:\n" + "- " * 20_000 + "x",
    "billion laughs": "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
    "100 KB sexagesimal 1:1:1...": "a: " + "1:" * 50_000 + "1",
    "100 KB integer": "a: " + "9" * 100_000,
    "256 KB + 1 byte": "a: " + "x" * card_yaml.MAX_METADATA_BYTES,
    "240 KB, 120,000 values": "a: [" + "0," * 120_000 + "]",
}
WORST_ACCEPTED = "a: [" + "[]," * 49_990 + "]"  # just under 100,000 parser events


def model_index_card(size: int) -> str:
    lines = ["license: mit", "model-index:", "- name: m", "  results:"]
    i = 0
    while sum(len(line) + 1 for line in lines) < size:
        i += 1
        lines += ["  - task:", "      type: retrieval", "    dataset:", f"      type: mteb/ds{i}"]
        lines += [f"      name: MTEB ds{i}", "      split: test", "    metrics:"]
        for m in range(8):
            lines += [f"    - type: metric_{m}", f"      value: {i * 0.123 + m:.4f}"]
    return "\n".join(lines)


def card(front_matter: str) -> str:
    return f"---\n{front_matter}\n---\n# Card\n"


def cpu_seconds(text: str, repeats: int = 3) -> tuple[float, str]:
    best, outcome = float("inf"), ""
    for _ in range(repeats):
        started = time.process_time()
        result = parse_card(text)
        best = min(best, time.process_time() - started)
        outcome = "refused" if result.errors else "accepted"
    return best, outcome


def main() -> int:
    print(f"bench_card_yaml: parse_card CPU seconds (best of 3), reader: {card_yaml.LOADER.__mro__[1].__name__}")
    baseline, outcome = cpu_seconds(card(model_index_card(250_000)))
    assert outcome == "accepted", "the baseline card must be valid"
    print(f"{'case':34} {'outcome':>9} {'cpu s':>8} {'/base':>7}")
    print(f"{'baseline: 250 KB model-index card':34} {outcome:>9} {baseline:8.3f} {1:7.2f}")
    failures = []
    for label, front_matter in HOSTILE.items():
        seconds, outcome = cpu_seconds(card(front_matter))
        ratio = seconds / baseline
        print(f"{label:34} {outcome:>9} {seconds:8.3f} {ratio:7.2f}")
        if outcome != "refused" and "sexagesimal" not in label:
            failures.append(f"{label} was accepted")
        if ratio > 1.0:
            failures.append(f"{label}: {ratio:.2f}x the baseline (target <= 1x)")
    seconds, outcome = cpu_seconds(card(WORST_ACCEPTED))
    print(f"{'worst accepted: 99,990 events':34} {outcome:>9} {seconds:8.3f} {seconds / baseline:7.2f}")
    if seconds / baseline > 3.0:
        failures.append(f"the worst accepted input costs {seconds / baseline:.2f}x the baseline (target <= 3x)")
    if os.environ.get("BENCH_FULL") == "1":
        # What the registry did before: the pure-Python event pass on the first hostile input, cut to 3 KB.
        started = time.process_time()
        with contextlib.suppress(yaml.YAMLError, RecursionError):
            for _event in yaml.parse("a: " + "[" * 3_000, Loader=yaml.SafeLoader):
                pass
        print(f"{'(before: pure PyYAML, 3 KB of [)':34} {'no answer':>9} {time.process_time() - started:8.3f}")
    for failure in failures:
        print("MISSED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
