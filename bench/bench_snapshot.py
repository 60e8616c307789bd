"""A feedback snapshot over a million ratings on PostgreSQL: time, rows/s and peak memory of the build.

    .venv/bin/python -m bench.bench_snapshot                # quick: 200,000 ratings
    BENCH_FULL=1 .venv/bin/python -m bench.bench_snapshot   # 1,000,000 ratings

It recreates a PostgreSQL database (BENCH_SNAPSHOT_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/flywheel_bench_snapshot; dropped at the end), migrates it and has the
database generate the feedback (INSERT ... SELECT from generate_series): 1,000 raters, one model, half as many finished outputs as ratings (two ratings each, a
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


def insert_series(model, count: int, expressions: dict[str, str], constants: dict) -> None:
    """INSERT ... SELECT ... FROM generate_series(0, count - 1) AS n: `expressions` (SQL over n) for the fields
    that vary, `constants` for others, every other concrete field at its default (so columns added later need
    no change here). The database makes the rows: a million in seconds."""
    from django.db import connection
    from django.db.models import NOT_PROVIDED, JSONField
    from psycopg2.extras import Json

    columns, values, params = [], [], []
    for field in model._meta.concrete_fields:
        name = field.attname
        if name in expressions:
            columns.append(field.column)
            values.append(expressions[name].replace("%", "%%"))  # the driver reads % as a placeholder
            continue
        if field.primary_key and field.get_internal_type() in ("AutoField", "BigAutoField"):
            continue
        if name in constants:
            value = constants[name]
        elif field.null and field.default is NOT_PROVIDED:
            value = None
        else:
            value = field.get_default()
        columns.append(field.column)
        values.append("%s")
        params.append(Json(value) if isinstance(field, JSONField) and value is not None else value)
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608
        f"SELECT {', '.join(values)} FROM generate_series(0, {int(count) - 1}) AS n"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _uuid_of(number: str) -> str:
    """SQL: the UUID whose integer is `number` + 1 (as uuid.UUID(int=...))."""
    return f"('00000000-0000-0000-0000-' || lpad(to_hex({number} + 1), 12, '0'))::uuid"


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
    assert rater_ids == list(range(rater_ids[0], rater_ids[0] + RATERS)), "raters' ids are not consecutive"
    RatingTag.objects.get_or_create(slug="harmful", defaults={"label": "Harmful", "negative": True})
    model = make_repo(owner=staff, name="tiny")
    commit = make_commit(repo=model, author=staff, files={"config.json": b"{}"})
    outputs = ratings // 2
    prompts = max(outputs // 2, 1)
    # A quarter of the outputs answer their prompt asked again in capitals and with "!": near-duplicates.
    story = f"'Tell me a story about the number ' || (n % {prompts}) || ' and a cat'"
    insert_series(
        Generation,
        outputs,
        {
            "id": _uuid_of("n"),
            "prompt": f"CASE WHEN n % 4 = 1 THEN upper({story} || '!') ELSE {story} || '.' END",
            "text": f"' Once upon a time, number ' || (n % {prompts}) || ' met a cat (' || (n % 7) || ').'",
            "seed": "n",
        },
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
    # Two ratings an output (n // 2 is the output, n % 2 which of its two raters), mostly thumbs up.
    up = "((n / 2) * 7 + (n % 2) * 3) % 10 < 6"
    insert_series(
        Rating,
        outputs * 2,
        {
            "generation_id": _uuid_of("n / 2"),
            "user_id": f"{rater_ids[0]} + n % {RATERS}",
            "thumb": f"CASE WHEN {up} THEN 'up' ELSE 'down' END",
            "stars": f"CASE WHEN n % 5 = 0 THEN NULL WHEN {up} THEN 4 ELSE 2 END",
            "tags": """CASE WHEN n % 50 = 7 THEN '["harmful"]'::jsonb ELSE '[]'::jsonb END""",
            "correction": f"CASE WHEN n % 20 = 3 THEN ' A better story about ' || ((n / 2) % {prompts}) || '.' ELSE '' END",
        },
        {"created_at": WHEN, "updated_at": WHEN, "comment": "", "by_maintainer": False},
    )
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


CHILD_SETUP = """
import json, os, resource, sys, time, django
django.setup()
from django.db import connection
connection.ensure_connection()
backend = connection.connection.get_backend_pid()

def cpu_seconds(pid="self"):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def finish(result):
    # VmHWM: this process's own peak resident memory (ru_maxrss would include the parent's, inherited at fork).
    peak = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
    result.update(rss_kib=peak, cpu=cpu_seconds() - cpu_start, database_cpu=cpu_seconds(backend) - database_start)
    print("RESULT " + json.dumps(result))

cpu_start, database_start = cpu_seconds(), cpu_seconds(backend)
"""

CHILD_BASELINE = (
    CHILD_SETUP
    + """
from feedback.snapshots.build import candidate_ratings, rating_rows
from feedback.snapshots.filters import SnapshotFilters
from feedback.snapshots.models import FeedbackSnapshot
snapshot = FeedbackSnapshot.objects.select_related("model").get(pk=int(sys.argv[1]))
queryset = candidate_ratings(snapshot.model, SnapshotFilters.from_json(snapshot.filters))
start = time.perf_counter()
count = sum(1 for _ in rating_rows(queryset).iterator(chunk_size=5000))
finish({"seconds": time.perf_counter() - start, "ratings": count})
"""
)

CHILD_BUILD = (
    CHILD_SETUP
    + """
from feedback.snapshots.services import snapshot_build
start = time.perf_counter()
snapshot = snapshot_build(snapshot_id=int(sys.argv[1]))
finish({"seconds": time.perf_counter() - start, "status": snapshot.status, "error": snapshot.error,
    "counts": snapshot.counts, "seen": snapshot.ratings_seen, "used": snapshot.ratings_used})
"""
)


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
        print(
            f"Loaded {ratings:,} ratings on {ratings // 2:,} outputs in {time.perf_counter() - start:.1f} s (INSERT ... SELECT from generate_series)"
        )

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
    for name, result, rss, rate in (
        ("baseline (read the rows only)", baseline, baseline_rss, read_rate),
        ("snapshot build", built, build_rss, build_rate),
    ):
        print(
            f"{name:30} {result['seconds']:6.1f} s  {rate:9,.0f} ratings/s  peak RSS {rss:4.0f} MiB"
            f"  CPU: process {result['cpu']:5.1f} s + database backend {result['database_cpu']:5.1f} s"
        )
    print(
        f"load average after the run: {os.getloadavg()[0]:.1f} (2 cores: above 2, other work stretches the wall"
        " times; the CPU seconds are what the build itself cost)"
    )
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
