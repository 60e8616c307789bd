"""The per-minute counters behind the rating limit: exact under concurrent hits, and old minutes forgotten."""

from __future__ import annotations

import threading
from pathlib import Path

from feedback.rate_counter import minute_hits

MINUTE = 29_000_000 * 60.0


def test_concurrent_hits_in_one_minute_each_get_their_own_number(settings, tmp_path):
    settings.DATA_DIR, settings.CACHE_URL = tmp_path, ""
    numbers: list[int] = []
    start = threading.Barrier(20)

    def hit() -> None:
        start.wait()
        numbers.extend(minute_hits("ratings-7", now=MINUTE + 5) for _ in range(10))

    threads = [threading.Thread(target=hit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(numbers) == list(range(1, 201))
    assert minute_hits("ratings-8", now=MINUTE + 59) == 1  # another person counts apart


def test_a_new_minute_starts_from_one_and_the_minute_before_last_is_removed(settings, tmp_path):
    settings.DATA_DIR, settings.CACHE_URL = tmp_path, ""
    folders = lambda: sorted(p.name for p in (Path(tmp_path) / "rate-counters").iterdir())  # noqa: E731
    assert [minute_hits("ratings-7", now=MINUTE + 60 * m) for m in (0, 0, 1, 1, 1)] == [1, 2, 1, 2, 3]
    assert folders() == [str(int(MINUTE // 60)), str(int(MINUTE // 60) + 1)]

    assert minute_hits("ratings-7", now=MINUTE + 120) == 1

    assert folders() == [str(int(MINUTE // 60) + 1), str(int(MINUTE // 60) + 2)]
