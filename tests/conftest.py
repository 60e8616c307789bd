"""Fixtures for cross-app tests: a real Celery worker on the configured broker."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator

import pytest

WORKER_QUEUES = ("default", "inference", "training")


def wait_for(condition: Callable[[], bool], *, timeout: float = 20.0, interval: float = 0.2) -> bool:
    """Poll `condition` until it is true or `timeout` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


@pytest.fixture(autouse=True)
def hub_client_connections_closed() -> Iterator[None]:
    """Close the stock client's pooled keep-alive connections after each test.

    Otherwise the live server's request threads wait on them until the interpreter exits, and then
    close their (shared, in-memory SQLite) database connection after the server has stopped sharing
    it, printing "DatabaseWrapper objects created in a thread..." after a green run.
    """
    yield
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import close_session

        close_session()


def broker_purge(app) -> None:
    """Drop messages left by earlier runs (tests enqueue work that no worker ever took)."""
    with app.connection_for_write() as conn:
        # Fail, never hang or skip, when the broker CI names (CELERY_BROKER_URL) is unreachable.
        conn.ensure_connection(max_retries=3, interval_start=0.5, interval_step=0.5, timeout=5)
        for queue in WORKER_QUEUES:
            conn.default_channel.queue_declare(queue=queue, durable=True, auto_delete=False)
            conn.default_channel.queue_purge(queue)


@pytest.fixture
def celery_worker(transactional_db) -> Iterator:
    """A real Celery worker (solo pool, in a thread) consuming every queue of the configured broker.

    It runs tasks in the test process against the test database, which is why it needs a
    transactional database: rows must be committed for the worker's connection to see them.
    """
    from celery.contrib.testing.worker import start_worker
    from django.db import connections

    from config.celery_app import app

    broker_purge(app)
    with start_worker(
        app,
        pool="solo",
        concurrency=1,
        queues=list(WORKER_QUEUES),
        perform_ping_check=False,
        shutdown_timeout=30,
        loglevel="WARNING",
    ) as worker:
        yield worker
    # The worker thread's database connection must not outlive the test (it would block the flush).
    connections.close_all()


@pytest.fixture
def finished_task_ids() -> Iterator[set[str]]:
    """Ids of the Celery tasks that finished (successfully or not) while the test ran."""
    from celery.signals import task_postrun

    finished: set[str] = set()

    def record(sender=None, task_id=None, **kwargs) -> None:
        finished.add(task_id)

    task_postrun.connect(record, weak=False)
    yield finished
    task_postrun.disconnect(record)
