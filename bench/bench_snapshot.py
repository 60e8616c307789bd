"""A feedback snapshot over a million ratings on PostgreSQL: time, rows/s and peak memory of the build.

    .venv/bin/python -m bench.bench_snapshot                # quick: 200,000 ratings
    BENCH_FULL=1 .venv/bin/python -m bench.bench_snapshot   # 1,000,000 ratings

It recreates a PostgreSQL database (BENCH_SNAPSHOT_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/flywheel_bench_snapshot; dropped at the end), migrates it and loads the
feedback with COPY: 1,000 raters, one model, half as many finished outputs as ratings (two ratings each, a
quarter of the prompts asked again with other case and punctuation, thumbs up and down, stars on most, a
correction on one in twenty, a "harmful" tag on one in fifty). Then, each in a fresh process so its peak
resident memory is its own:

- the baseline: the builder's query alone, every matching row read (`rating_rows(...).iterator()`);
- the build: `feedback.snapshots.services.snapshot_build` (what the Celery task calls): both passes, the
  files stored as blobs, the commit, the used ratings copied into SnapshotRating.

Targets (full size): the build within 60 s, its peak RSS under 512 MiB. Printed: ratings/s of both, their
ratio, the rows written and the used ratings.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/flywheel_bench_snapshot"
RATERS = 1_000
TARGET_SECONDS = 60.0
TARGET_RSS_MIB = 512
WHEN = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)


def _admin(url: str, *statements: str) -> None:
    import psycopg2

    parts = urlparse(url)
    conn = psycopg2.connect(
        host=parts.hostname, port=parts.port or 5432, user=parts.username, password=parts.password, dbname="postgres"
    )
    conn.autocommit = True
    with conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement.format(name=parts.path.lstrip("/")))
    conn.close()


def environment(url: str, data_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "S3_BUCKET")}
    env.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "FLYWHEEL_DATA_DIR": data_dir,
            "DEBUG": "false",  # DEBUG keeps every query in memory
            "SECRET_KEY": "bench-only-secret-key",
            "LOG_LEVEL": "ERROR",
        }
    )
    return env


def _copy_text(value) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (dict, list)):
        value = json.dumps(value)
    text = value.isoformat() if isinstance(value, dt.datetime) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_rows(model, rows, constants: dict) -> None:
    """COPY rows of `model`: each row a dict of the varying fields, `constants` for the rest, every other
    concrete field at its default (so columns added later need no change here)."""
    from django.db import connection
    from django.db.models import NOT_PROVIDED

    fields = [
        f
        for f in model._meta.concrete_fields
        if not (f.primary_key and f.name == "id" and f.get_internal_type() in ("AutoField", "BigAutoField"))
    ]
    names = [f.attname for f in fields]
    fixed = {}
    for f in fields:
        if f.attname in constants:
            fixed[f.attname] = _copy_text(constants[f.attname])
        elif f.null and f.default is NOT_PROVIDED:
            fixed[f.attname] = r"\N"
        else:
            fixed[f.attname] = _copy_text(f.get_default())
    with tempfile.TemporaryFile("w+", encoding="utf-8") as handle:
        for row in rows:
            handle.write("\t".join(_copy_text(row[n]) if n in row else fixed[n] for n in names) + "\n")
        handle.seek(0)
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        with connection.cursor() as cursor:
            cursor.copy_expert(f"COPY {model._meta.db_table} ({columns}) FROM STDIN", handle)


def load_feedback(ratings: int) -> int:
    """The fixtures; returns the snapshot's id (queued, not built)."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.db import connection

    from accounts.models import User
    from conftest import make_commit, make_repo
    from feedback.models import Rating, RatingTag
    from feedback.snapshots.filters import filters_clean
    from feedback.snapshots.models import FeedbackSnapshot
    from inference.models import Generation

    staff = User.objects.create_user(username="maintainer", email="m@example.com", password="bench", is_staff=True)
    User.objects.bulk_create(
        [User(username=f"rater{i}", email=f"rater{i}@example.com", password="!") for i in range(RATERS)]
    )
    rater_ids = list(User.objects.filter(username__startswith="rater").order_by("pk").values_list("pk", flat=True))
    RatingTag.objects.get_or_create(slug="harmful", defaults={"label": "Harmful", "negative": True})
    model = make_repo(owner=staff, name="tiny")
    commit = make_commit(repo=model, author=staff, files={"config.json": b"{}"})
    outputs = ratings // 2
    prompts = max(outputs // 2, 1)
    generation_ids = [uuid.UUID(int=i + 1) for i in range(outputs)]

    def generation_rows():
        for i, gid in enumerate(generation_ids):
            p = i % prompts
            prompt = f"Tell me a story about the number {p} and a cat" + ("!" if i % 4 == 1 else ".")
            if i % 4 == 1:
                prompt = prompt.upper()
            yield {
                "id": gid,
                "prompt": prompt,
                "text": f" Once upon a time, number {p} met a cat ({i % 7}).",
                "seed": i,
            }

    copy_rows(
        Generation,
        generation_rows(),
        {
            "repository_id": model.pk,
            "commit_id": commit.pk,
            "revision": "main",
            "source": "batch",
            "status": "done",
            "max_new_tokens": 32,
            "temperature": 0.8,
            "top_p": 1.0,
            "top_k": 0,
            "repetition_penalty": 1.0,
            "created_at": WHEN,
            "finished_at": WHEN,
        },
    )

    def rating_rows():
        for n in range(outputs * 2):
            i, second = divmod(n, 2)
            up = (i * 7 + second * 3) % 10 < 6
            yield {
                "generation_id": generation_ids[i],
                "user_id": rater_ids[(i * 2 + second) % len(rater_ids)],
                "thumb": "up" if up else "down",
                "stars": (4 if up else 2) if n % 5 else None,
                "tags": ["harmful"] if n % 50 == 7 else [],
                "correction": f" A better story about {i % prompts}." if n % 20 == 3 else "",
            }

    copy_rows(Rating, rating_rows(), {"created_at": WHEN, "updated_at": WHEN, "comment": "", "by_maintainer": False})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    filters = filters_clean(model=model, data={"exclude_tags": ["harmful"], "validation_fraction": 0.1})
    snapshot = FeedbackSnapshot.objects.create(
        model=model,
        dataset_name="maintainer/tiny-feedback",
        filters=filters.to_json(),
        created_by=staff,
        created_at=WHEN,
    )
    return snapshot.pk


CHILD_BASELINE = """
import json, resource, sys, time, django
django.setup()
from feedback.snapshots.build import candidate_ratings, rating_rows
from feedback.snapshots.filters import SnapshotFilters
from feedback.snapshots.models import FeedbackSnapshot
snapshot = FeedbackSnapshot.objects.select_related("model").get(pk=int(sys.argv[1]))
queryset = candidate_ratings(snapshot.model, SnapshotFilters.from_json(snapshot.filters))
start = time.perf_counter()
count = sum(1 for _ in rating_rows(queryset).iterator(chunk_size=5000))
print("RESULT " + json.dumps({"seconds": time.perf_counter() - start, "ratings": count,
    "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "cpu": sum(resource.getrusage(resource.RUSAGE_SELF)[:2])}))
"""

CHILD_BUILD = """
import json, resource, sys, time, django
django.setup()
from feedback.snapshots.services import snapshot_build
start = time.perf_counter()
snapshot = snapshot_build(snapshot_id=int(sys.argv[1]))
print("RESULT " + json.dumps({"seconds": time.perf_counter() - start, "status": snapshot.status,
    "error": snapshot.error, "counts": snapshot.counts, "seen": snapshot.ratings_seen, "used": snapshot.ratings_used,
    "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "cpu": sum(resource.getrusage(resource.RUSAGE_SELF)[:2])}))
"""


def run_child(code: str, snapshot_id: int, env: dict[str, str]) -> tuple[dict, float]:
    """Run `code` in a fresh interpreter; its result and its own peak RSS in MiB."""
    done = subprocess.run(
        [sys.executable, "-c", code, str(snapshot_id)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(lines[0][len("RESULT ") :])
    return result, result["rss_kib"] / 1024


def main() -> int:
    full = os.environ.get("BENCH_FULL") == "1"
    ratings = int(os.environ.get("BENCH_SNAPSHOT_RATINGS", 1_000_000 if full else 200_000))
    url = os.environ.get("BENCH_SNAPSHOT_DATABASE_URL", DEFAULT_URL)
    try:
        _admin(url, 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', 'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001 - any failure to reach it: say so
        print(f"PostgreSQL does not answer at {url} ({type(exc).__name__}); bench_snapshot needs it.")
        return 1
    data_dir = tempfile.mkdtemp(prefix="flywheel-bench-snapshot-")
    env = environment(url, data_dir)
    os.environ.update(env)
    os.environ.pop("CELERY_BROKER_URL", None)
    try:
        import django

        django.setup()
        start = time.perf_counter()
        snapshot_id = load_feedback(ratings)
        from django.db import connections

        connections.close_all()
        print(f"Loaded {ratings:,} ratings on {ratings // 2:,} outputs in {time.perf_counter() - start:.1f} s (COPY)")

        baseline, baseline_rss = run_child(CHILD_BASELINE, snapshot_id, env)
        built, build_rss = run_child(CHILD_BUILD, snapshot_id, env)
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001, S110 - best effort before the database goes
            pass
        _admin(url, 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        subprocess.run(["rm", "-rf", data_dir], check=False)

    if built["status"] != "done":
        print(f"The build failed: {built['error']}")
        return 1
    seen = built["seen"]
    read_rate = baseline["ratings"] / baseline["seconds"]
    build_rate = seen / built["seconds"]
    rows = sum(built["counts"].values())
    print(
        f"baseline (read the rows only): {baseline['seconds']:6.1f} s  {read_rate:10,.0f} ratings/s"
        f"  peak RSS {baseline_rss:5.0f} MiB  process CPU {baseline['cpu']:5.1f} s"
    )
    print(
        f"snapshot build:                {built['seconds']:6.1f} s  {build_rate:10,.0f} ratings/s"
        f"  peak RSS {build_rss:5.0f} MiB  process CPU {built['cpu']:5.1f} s"
    )
    print(f"load average after the run: {os.getloadavg()[0]:.1f} (2 cores: above 2, wall times are stretched)")
    print(
        f"ratio build/read: {build_rate / read_rate:.2f}x; {rows:,} rows written"
        f" ({rows / built['seconds']:,.0f} rows/s), {built['used']:,} of {seen:,} ratings used"
    )
    print("counts: " + ", ".join(f"{k} {v:,}" for k, v in built["counts"].items()))
    met = built["seconds"] <= TARGET_SECONDS and build_rss < TARGET_RSS_MIB
    judged = ratings >= 1_000_000
    print(
        f"targets (1,000,000 ratings): <= {TARGET_SECONDS:.0f} s, peak RSS < {TARGET_RSS_MIB} MiB: "
        + ("met" if met else "NOT met")
        + ("" if judged else " (quick size: judged at full size, BENCH_FULL=1)")
    )
    return 0 if met or not judged else 1


if __name__ == "__main__":
    sys.exit(main())
