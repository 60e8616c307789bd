"""The download counter's cache: add() is first-one-wins across threads, as with Redis."""

from __future__ import annotations

import threading
from datetime import timedelta

import time_machine
from django.utils import timezone

from config.cache import AtomicAddFileCache


def test_only_one_of_many_simultaneous_adds_wins(tmp_path):
    cache = AtomicAddFileCache(str(tmp_path), {})
    start = threading.Barrier(24)
    results: list[bool] = []

    def add() -> None:
        start.wait()
        results.append(cache.add("download:1:someone", 1, timeout=300))

    threads = [threading.Thread(target=add) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results.count(True) == 1
    assert cache.get("download:1:someone") == 1
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".djcache")] == []  # no temp files left


def test_an_expired_entry_can_be_added_again(tmp_path):
    cache = AtomicAddFileCache(str(tmp_path), {})
    assert cache.add("k", 1, timeout=60)
    assert not cache.add("k", 2, timeout=60)
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert cache.add("k", 3, timeout=60)
        assert cache.get("k") == 3
