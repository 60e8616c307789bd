"""Listing and search at 100,000 repositories on PostgreSQL, timed in-process with the Django test client.

    .venv/bin/python -m bench.bench_listing                 # quick: 2,000 then 10,000 rows
    BENCH_FULL=1 .venv/bin/python -m bench.bench_listing    # 10,000 then 100,000 rows
    BENCH_LISTING_ROWS=50000 BENCH_REQUESTS=100 ...         # any size

It recreates the database named by BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/flywheel_bench), migrates it, bulk-inserts repositories with
realistic names, cards, tags, a few users and organisations and 5% private rows, then times the
/models page and the /api/v1/models/ API (search, filter, deep page, signed in) against a trivial
view that runs `SELECT 1` through the same middleware, in the same run. It also checks that each
page runs as many queries at the small size as at the full size. Target: p95 < 100 ms.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from urllib.parse import urlparse

from django.db import connection
from django.http import HttpResponse
from django.urls import include, path

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/flywheel_bench"
TASKS = [
    "text-generation",
    "text-classification",
    "token-classification",
    "fill-mask",
    "translation",
    "summarization",
    "question-answering",
    "image-classification",
    "automatic-speech-recognition",
    "feature-extraction",
]
LIBRARIES = ["transformers", "peft", "sentence-transformers", "diffusers", "timm", "sklearn"]
LICENSES = ["apache-2.0", "mit", "cc-by-4.0", "llama3", "openrail", "other"]
FAMILIES = ["llama", "mistral", "gpt2", "bert", "roberta", "t5", "whisper", "vit", "phi", "qwen", "gemma", "falcon"]
SIZES = ["tiny", "small", "base", "large", "xl", "125m", "350m", "1b", "3b", "7b", "13b"]
FLAVOURS = ["instruct", "chat", "finetuned", "distilled", "lora", "gguf", "awq", "dpo", "sft", "merged", "v2"]
TAGS = ["english", "french", "code", "math", "chat", "medical", "legal", "finance", "multilingual", "safetensors"]


def select_one(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse(b"ok", content_type="text/plain")


# The bench's own URLconf (filled in once Django is set up): the site's, plus the baseline view,
# served through the same middleware.
urlpatterns: list = []


def configure() -> None:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    recreate_database(url)
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "FLYWHEEL_DATA_DIR": tempfile.mkdtemp(prefix="flywheel-bench-listing-"),
            "DEBUG": "false",  # DEBUG keeps every query in memory and would slow what is measured
            "SECRET_KEY": "bench-only-secret-key",
            "ALLOWED_HOSTS": "testserver",
            "LOG_LEVEL": "ERROR",
        }
    )
    import django

    django.setup()
    from django.conf import settings

    urlpatterns[:] = [path("bench/select-1", select_one), path("", include("config.urls"))]
    settings.ROOT_URLCONF = __name__
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def recreate_database(url: str) -> None:
    import psycopg2

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    conn = psycopg2.connect(
        host=parts.hostname, port=parts.port or 5432, user=parts.username, password=parts.password, dbname="postgres"
    )
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def make_owners():
    from accounts.models import Organization, User
    from accounts.services import membership_set, organization_create

    users = [
        User.objects.create_user(username=f"user{i}", email=f"user{i}@example.com", password="bench-password")
        for i in range(20)
    ]
    orgs = [organization_create(creator=users[i], name=f"lab{i}") for i in range(5)]
    membership_set(org=orgs[0], actor=users[0], username=users[1].username, role="read")
    return users, list(Organization.objects.filter(pk__in=[o.pk for o in orgs]))


def insert_repositories(start: int, stop: int, users, orgs, rng: random.Random) -> None:
    """Rows as the services would leave them after a README commit, written in bulk."""
    from django.utils import timezone

    from models_hub.models import Repository, RepoTag

    now = timezone.now()
    batch = 5000
    for first in range(start, stop, batch):
        repos, tag_lists = [], []
        for i in range(first, min(first + batch, stop)):
            owner = rng.choice(users) if i % 4 else None
            org = None if owner else rng.choice(orgs)
            namespace = owner.username if owner else org.name
            family = rng.choice(FAMILIES)
            name = f"{family}-{rng.choice(SIZES)}-{rng.choice(FLAVOURS)}-{i}"
            task, library, licence = rng.choice(TASKS), rng.choice(LIBRARIES), rng.choice(LICENSES)
            tags = sorted({rng.choice(TAGS), rng.choice(TAGS), task, library, f"license:{licence}"})
            summary = f"A {family} model fine-tuned for {task.replace('-', ' ')} on {rng.choice(TAGS)} data."
            updated = now - timezone.timedelta(minutes=rng.randint(0, 500_000))
            repos.append(
                Repository(
                    kind="dataset" if i % 10 == 0 else "model",
                    namespace=namespace,
                    name=name,
                    owner=owner,
                    organization=org,
                    private=i % 20 == 0,
                    created_at=updated,
                    updated_at=updated,
                    downloads=int(rng.paretovariate(1.2) * 10),
                    likes_count=int(rng.paretovariate(1.5)),
                    card_data={"license": licence, "pipeline_tag": task, "tags": tags},
                    summary=summary,
                    license=licence,
                    pipeline_tag=task,
                    library_name=library,
                    search_text=" ".join([namespace, name, summary, *tags]),
                )
            )
            tag_lists.append(tags)
        created = Repository.objects.bulk_create(repos)
        RepoTag.objects.bulk_create(
            [RepoTag(repository=repo, name=tag) for repo, tags in zip(created, tag_lists, strict=True) for tag in tags],
            batch_size=10_000,
        )
    with connection.cursor() as cursor:
        # As autovacuum would after a bulk load: statistics, and a visibility map for index-only scans.
        cursor.execute("VACUUM ANALYZE")


def cases(deep_page: int) -> list[tuple[str, str, str | bool]]:
    return [
        (label.replace("DEEP", str(deep_page)), url.replace("DEEP", str(deep_page)), mode) for label, url, mode in CASES
    ]


CASES = [
    ("baseline: SELECT 1 view", "/bench/select-1", False),
    ("/models", "/models", False),
    ("/models search 'llama chat'", "/models?search=llama+chat", False),
    ("/models search prefix 'mist'", "/models?search=mist", False),
    ("/models task filter", "/models?task=text-generation", False),
    ("/models task + tag + sort likes", "/models?task=translation&tag=code&sort=likes", False),
    ("/models page DEEP (deep)", "/models?page=DEEP", False),
    ("/models htmx fragment search", "/models?search=bert&sort=updated", "htmx"),
    ("/models signed in (private visible)", "/models?sort=updated", "login"),
    ("/api/v1/models/", "/api/v1/models/", False),
    ("/api/v1/models/ search + filter", "/api/v1/models/?search=qwen&license=mit", False),
    ("/api/v1/models/ page DEEP", "/api/v1/models/?page=DEEP", False),
]


def clients():
    from django.test import Client

    from accounts.models import User

    anonymous, signed_in = Client(), Client()
    signed_in.force_login(User.objects.get(username="user1"))
    return anonymous, signed_in


def get(client, url: str, mode):
    headers = {"HTTP_HX_REQUEST": "true"} if mode == "htmx" else {}
    response = client.get(url, **headers)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    return response


def query_counts(deep_page: int) -> dict[str, int]:
    from django.core.cache import cache
    from django.test.utils import CaptureQueriesContext

    anonymous, signed_in = clients()
    counts = {}
    for label, url, mode in cases(deep_page):
        client = signed_in if mode == "login" else anonymous
        get(client, url, mode)  # facets cached, as for every visitor but the first
        with CaptureQueriesContext(connection) as captured:
            get(client, url, mode)
        counts[label] = len(captured.captured_queries)
    cache.clear()
    return counts


def timings(requests: int, deep_page: int) -> dict[str, tuple[float, float, float]]:
    anonymous, signed_in = clients()
    results = {}
    for label, url, mode in cases(deep_page):
        client = signed_in if mode == "login" else anonymous
        cold_start = time.perf_counter()
        get(client, url, mode)
        cold = time.perf_counter() - cold_start
        for _ in range(3):
            get(client, url, mode)
        samples = []
        for _ in range(requests):
            start = time.perf_counter()
            get(client, url, mode)
            samples.append(time.perf_counter() - start)
        samples.sort()
        p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
        results[label] = (statistics.median(samples) * 1000, p95 * 1000, cold * 1000)
    return results


def main() -> int:
    full = os.environ.get("BENCH_FULL") == "1"
    rows = int(os.environ.get("BENCH_LISTING_ROWS", "100000" if full else "10000"))
    small = int(os.environ.get("BENCH_LISTING_SMALL_ROWS", str(rows // 10)))
    requests = int(os.environ.get("BENCH_REQUESTS", "50" if full else "20"))
    configure()
    rng = random.Random(42)
    users, orgs = make_owners()

    started = time.perf_counter()
    insert_repositories(0, small, users, orgs, rng)
    # A page deep into the list that exists at both sizes (about 85% of rows are public models).
    deep_page = max(2, int(small * 0.85 / 30 * 0.8))
    small_counts = query_counts(deep_page)
    insert_repositories(small, rows, users, orgs, rng)
    inserted = time.perf_counter() - started
    big_counts = query_counts(deep_page)
    print(
        f"bench_listing: {rows:,} repositories on PostgreSQL {connection.pg_version // 10000} "
        f"(inserted in {inserted:.1f} s), {requests} requests per case"
    )

    results = timings(requests, deep_page)
    baseline_p50 = results["baseline: SELECT 1 view"][0]
    print(
        f"{'case':40} {'p50 ms':>8} {'p95 ms':>8} {'cold ms':>8} {'p50/base':>9} "
        f"{'queries@' + format(small, ','):>14} {'queries@' + format(rows, ','):>15}"
    )
    failures = []
    for label, (p50, p95, cold) in results.items():
        ratio = p50 / baseline_p50 if baseline_p50 else float("nan")
        print(
            f"{label:40} {p50:8.1f} {p95:8.1f} {cold:8.1f} {ratio:8.1f}x "
            f"{small_counts[label]:14} {big_counts[label]:15}"
        )
        if small_counts[label] != big_counts[label]:
            failures.append(
                f"{label}: {small_counts[label]} queries at {small:,} rows, {big_counts[label]} at {rows:,}"
            )
        if p95 >= 100:
            failures.append(f"{label}: p95 {p95:.1f} ms >= 100 ms")
    print("target: p95 < 100 ms and equal query counts:", "MET" if not failures else "NOT MET")
    for failure in failures:
        print("  -", failure)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
