"""Ratings through the API under concurrent raters, against the cheapest authenticated endpoint.

    .venv/bin/python -m bench.bench_ratings                # quick: 2 rounds of 5 s per endpoint
    BENCH_FULL=1 .venv/bin/python -m bench.bench_ratings   # 3 rounds of 20 s

It recreates a PostgreSQL database (BENCH_RATINGS_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/flywheel_bench_ratings; dropped at the end), migrates it, creates 64
raters with a token each, a model repository (a config.json and a dummy safetensors file: nothing is
generated) and finished outputs generated for the rating queue (`source="batch"`, so anyone may rate them),
starts gunicorn exactly as `make run` does (2 workers x 8 threads) and sends, from 16 client threads with
one persistent connection each:

- the ceiling: `GET /api/whoami-v2` (token lookup, the user's organisations, a small JSON answer);
- the load: `PUT /api/v1/generations/{id}/rating` with a random rater's token on a random output, each body
  carrying a unique comment so every answer can be traced to the row it wrote.

Rounds alternate ceiling and load so both see the same machine. The per-user limit
(FLYWHEEL_RATINGS_PER_MINUTE, 600 by default) is left as deployed: spread over 64 raters no one comes near
it, and any 429 counts as a failure. Targets: ratings/s >= 0.8x whoami/s, ratings p99 < 250 ms, every answer
200, and afterwards exactly one row per (output, rater) pair rated, exactly one `created: true` answer per
pair, and each row holding one of the bodies acknowledged for its pair (none lost, none duplicated).

Without PostgreSQL it says so and runs on SQLite (the embedded default) instead; the targets are for
PostgreSQL. The client shares the 2 cores with the server; its CPU time is printed.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from bench.common import free_port, server_env, start_gunicorn, stop_gunicorn

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(Path(sys.executable))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/flywheel_bench_ratings"
USERS = 64
CLIENTS = 16
TARGET_RATIO = 0.8
TARGET_P99_MS = 250

SETUP = """
import json, struct, django
django.setup()
from django.utils import timezone
from accounts.models import User
from accounts.services import token_create
from conftest import make_commit, make_repo
from inference.models import Generation

owner = User.objects.create_user(username="owner", email="owner@example.com", password="bench-password")
header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
files = {
    "config.json": json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}).encode(),
    "model.safetensors": struct.pack("<Q", len(header)) + header + b"\\0" * 4,
    "README.md": b"---\\npipeline_tag: text-generation\\n---\\n# bench\\n",
}
repo = make_repo(owner=owner, name="rated")
commit = make_commit(repo=repo, author=owner, files=files, title="Add the model")
commit = repo.refs.get(name="main").commit
now = timezone.now()
generations = Generation.objects.bulk_create(
    Generation(
        user=owner, repository=repo, commit=commit, revision="main", source="batch", prompt=f"Prompt {i}",
        text=f"Output {i}.", status="done", max_new_tokens=8, temperature=0.8, top_p=1.0, top_k=0,
        repetition_penalty=1.0, seed=i, created_at=now, finished_at=now,
    )
    for i in range(%(outputs)d)
)
tokens = {}
for i in range(%(users)d):
    user = User.objects.create_user(username=f"rater{i}", email=f"rater{i}@example.com", password="bench-password")
    tokens[str(user.pk)] = token_create(user=user, name="bench", scope="write").secret
print(json.dumps({"tokens": tokens, "generations": [str(g.pk) for g in generations]}))
"""

CHECK = """
import json, django
django.setup()
from feedback.models import Rating
rows = list(Rating.objects.values_list("generation_id", "user_id", "comment", "updated_at"))
print(json.dumps([[str(g), str(u), c, t.isoformat()] for g, u, c, t in rows]))
"""


@dataclass
class Phase:
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    requests: int = 0
    failures: list[str] = field(default_factory=list)

    def add(self, other: Phase) -> None:
        self.latencies += other.latencies
        self.seconds += other.seconds
        self.requests += other.requests
        self.failures += other.failures

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


@dataclass
class Ack:
    """A 200 answer to a PUT: the pair it rated, the comment it sent, and what the server said."""

    generation: str
    user: str
    comment: str
    created: bool
    updated_at: str


def database_url() -> tuple[str | None, str]:
    """The PostgreSQL URL to use, recreated empty, or (None, why) when the server does not answer."""
    url = os.environ.get("BENCH_RATINGS_DATABASE_URL", DEFAULT_URL)
    try:
        _admin(url, "DROP DATABASE IF EXISTS", "CREATE DATABASE")
    except Exception as exc:  # noqa: BLE001 - any failure to reach it means: fall back, and say why
        return None, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return url, ""


def _admin(url: str, *statements: str) -> None:
    import psycopg2

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    conn = psycopg2.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname="postgres",
        connect_timeout=3,
    )
    conn.autocommit = True
    with conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(f'{statement} "{name}"' + (" WITH (FORCE)" if statement.startswith("DROP") else ""))
    conn.close()


def run_clients(port: int, make_request, seconds: float) -> Phase:
    """Requests for `seconds` from CLIENTS threads, each on its own persistent connection, each sending its next
    request when the last is answered; make_request(i) gives (method, path, body, headers, on_answer) for
    request number i."""
    phase = Phase()
    lock = threading.Lock()
    counter = iter(range(10**9))
    barrier = threading.Barrier(CLIENTS + 1)
    deadline = [0.0]

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        latencies: list[float] = []
        barrier.wait()
        while time.perf_counter() < deadline[0]:
            with lock:
                number = next(counter)
            method, path, body, headers, on_answer = make_request(number)
            start = time.perf_counter()
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            payload = response.read()
            latencies.append(time.perf_counter() - start)
            if response.status != 200:
                with lock:
                    phase.failures.append(f"{method} {path} -> {response.status}: {payload[:200]!r}")
            elif on_answer is not None:
                on_answer(payload)
        connection.close()
        with lock:
            phase.latencies += latencies

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    deadline[0] = start + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    phase.seconds = time.perf_counter() - start
    phase.requests = len(phase.latencies)
    return phase


def whoami_phase(port: int, secrets: list[str], seconds: float) -> Phase:
    rng = random.Random(1)
    headers = [{"Authorization": f"Bearer {s}"} for s in secrets]

    def make(number: int):
        return "GET", "/api/whoami-v2", None, rng.choice(headers), None

    return run_clients(port, make, seconds)


def ratings_phase(port: int, users: list[tuple[str, str]], generations: list[str], seconds: float, tag: str, acks):
    rng = random.Random(tag)
    thumbs = ("up", "down")

    def make(number: int):
        user_id, secret = rng.choice(users)
        generation = rng.choice(generations)
        comment = f"{tag}-{number}"
        body = json.dumps({"thumb": rng.choice(thumbs), "stars": rng.randint(1, 5), "comment": comment})
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}

        def on_answer(payload: bytes) -> None:
            answer = json.loads(payload)
            acks.append(Ack(generation, user_id, comment, answer["created"], answer["updated_at"]))

        return "PUT", f"/api/v1/generations/{generation}/rating", body, headers, on_answer

    return run_clients(port, make, seconds)


def check_rows(env: dict[str, str], acks: list[Ack]) -> list[str]:
    """Problems found comparing the acknowledged answers with the rows left behind."""
    out = subprocess.run([PYTHON, "-c", CHECK], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    rows = json.loads(out.stdout.strip().splitlines()[-1])
    problems = []
    by_pair: dict[tuple[str, str], list[Ack]] = {}
    for ack in acks:
        by_pair.setdefault((ack.generation, ack.user), []).append(ack)
    row_pairs = [(g, u) for g, u, _, _ in rows]
    if len(row_pairs) != len(set(row_pairs)):
        problems.append(f"duplicated: {len(row_pairs) - len(set(row_pairs))} pairs have more than one row")
    if set(row_pairs) != set(by_pair):
        lost, extra = set(by_pair) - set(row_pairs), set(row_pairs) - set(by_pair)
        problems.append(f"{len(lost)} acknowledged pairs have no row, {len(extra)} rows were never acknowledged")
    created_twice = sum(1 for pair_acks in by_pair.values() if sum(a.created for a in pair_acks) != 1)
    if created_twice:
        problems.append(f"{created_twice} pairs were answered 'created: true' other than exactly once")
    stray = 0
    for generation, user, comment, _ in rows:
        if comment not in {a.comment for a in by_pair.get((generation, user), [])}:
            stray += 1
    if stray:
        problems.append(f"{stray} rows hold a body that was not acknowledged for their pair")
    return problems


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    full = os.environ.get("BENCH_FULL") == "1"
    rounds, per_round = (3, 20.0) if full else (2, 5.0)
    outputs = 2000 if full else 500
    workdir = Path(tempfile.mkdtemp(prefix="flywheel-bench-ratings-"))
    env = server_env(workdir / "data")
    url, why = database_url()
    if url:
        env["DATABASE_URL"] = url
        print(f"database: PostgreSQL ({urlparse(url).path.lstrip('/')}, recreated)")
    else:
        print(
            f"database: PostgreSQL did not answer ({why}); falling back to SQLite. "
            "The targets are for PostgreSQL: these figures do not judge them."
        )
    try:
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        setup = subprocess.run(
            [PYTHON, "-c", SETUP % {"outputs": outputs, "users": USERS}],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        fixture = json.loads(setup.stdout.strip().splitlines()[-1])
        users = list(fixture["tokens"].items())
        generations = fixture["generations"]
        secrets = [secret for _, secret in users]
        port = free_port()
        server = start_gunicorn(port=port, env=env, log_path=workdir / "gunicorn.log")
        acks: list[Ack] = []
        ceiling, load = Phase(), Phase()
        cpu_start = client_cpu()
        try:
            # Warm-up: every worker thread opens its database connection and imports what it needs.
            whoami_phase(port, secrets, 1.0)
            ratings_phase(port, users, generations, 1.0, "warm", acks)
            cpu_start = client_cpu()
            for number in range(rounds):
                ceiling.add(whoami_phase(port, secrets, per_round))
                load.add(ratings_phase(port, users, generations, per_round, f"round{number}", acks))
        finally:
            stop_gunicorn(server)
        cpu = client_cpu() - cpu_start
        problems = check_rows(env, acks)
    finally:
        if url:
            _admin(url, "DROP DATABASE IF EXISTS")

    ratio = load.rate / ceiling.rate
    wall = ceiling.seconds + load.seconds
    print(
        f"{CLIENTS} clients, {USERS} raters with a token each, {outputs} outputs, gunicorn 2 workers x 8 threads; "
        f"{rounds} rounds of {per_round:.0f} s per endpoint, alternating"
    )
    print(
        f"ceiling GET /api/whoami-v2:              {ceiling.rate:7.1f} req/s  "
        f"p50 {ceiling.percentile(0.5):6.1f} ms  p99 {ceiling.percentile(0.99):6.1f} ms"
    )
    print(
        f"PUT /api/v1/generations/{{id}}/rating:    {load.rate:7.1f} req/s  "
        f"p50 {load.percentile(0.5):6.1f} ms  p99 {load.percentile(0.99):6.1f} ms"
    )
    print(f"ratings / ceiling: {ratio:.2f}x (target >= {TARGET_RATIO}); ratings p99 target < {TARGET_P99_MS} ms")
    pairs = len({(a.generation, a.user) for a in acks})
    print(
        f"rows check: {len(acks):,} acknowledged ratings on {pairs:,} (output, rater) pairs -> "
        + (
            "; ".join(problems)
            if problems
            else "one row per pair, each holding an acknowledged body: none lost or duplicated"
        )
    )
    print(
        f"client (this process, on the same 2 cores): {cpu:.1f} s CPU over {wall:.1f} s of load "
        f"({cpu / wall * 100:.0f}% of one core)"
    )
    failures = []
    if ceiling.failures or load.failures:
        bad = ceiling.failures + load.failures
        print(f"{len(bad)} requests did not answer 200, e.g. {bad[0]}")
        failures.append("every answer 200")
    if ratio < TARGET_RATIO:
        failures.append(f"ratings >= {TARGET_RATIO}x ceiling")
    if load.percentile(0.99) >= TARGET_P99_MS:
        failures.append(f"p99 < {TARGET_P99_MS} ms")
    if problems:
        failures.append("none lost or duplicated")
    if not url:
        print("(SQLite fallback: PostgreSQL targets not judged)")
        failures = [f for f in failures if f in ("every answer 200", "none lost or duplicated")]
    print("targets met" if not failures else f"targets NOT met: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
