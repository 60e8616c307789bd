"""Run every benchmark in bench/: `python -m bench [name ...]`.

Each bench_*.py module that defines main() runs in its own process (each sets up Django its own
way), quick by default; BENCH_FULL=1 runs them at full size. Names filter by substring.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    """Module names of bench_*.py files with a top-level main(), found without importing them."""
    found = []
    for path in sorted(HERE.glob("bench_*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
            found.append(path.stem)
    return found


def main(argv: list[str]) -> int:
    wanted = argv[1:]
    names = [name for name in discover() if not wanted or any(w in name for w in wanted)]
    mode = "full" if os.environ.get("BENCH_FULL") == "1" else "quick (BENCH_FULL=1 for full size)"
    print(f"Benchmarks: {', '.join(names) or 'none'} — {mode}\n", flush=True)
    results = []
    for name in names:
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        code = f"import sys, bench.{name} as b; sys.exit(b.main())"
        returncode = subprocess.call([sys.executable, "-c", code], cwd=HERE.parent)
        results.append((name, returncode, time.perf_counter() - start))
        print(flush=True)
    print("Summary:")
    for name, returncode, seconds in results:
        status = "targets met" if returncode == 0 else f"targets NOT met or failed (exit {returncode})"
        print(f"  {name:28} {status:45} {seconds:7.1f} s")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
