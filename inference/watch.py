"""One database read per web process for all the generations its streams follow.

A stream that read its own generation every 50 ms cost a query per stream per tick: 8 people watching were 160
queries a second on the cores the inference worker needs, and a hundred would be 2,000. Here one thread per
process reads every followed generation's progress in one query per tick and wakes the streams; each stream then
looks at its own row in memory. The tick is 50 ms, and 10 ms while a followed generation should end within two
ticks (the worker writes progress every 50 ms), so the finished state still reaches the page soon after it is
written.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone

from inference.models import Generation

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05
END_POLL_SECONDS = 0.01
UNREAD = object()
FIELDS = ("id", "status", "text", "completion_tokens", "max_new_tokens", "first_token_at", "created_at")


@dataclass(frozen=True)
class Progress:
    """What a stream needs of its generation between the first and the last event."""

    status: str
    text: str
    completion_tokens: int
    max_new_tokens: int
    first_token_at: datetime | None
    created_at: datetime

    @property
    def is_finished(self) -> bool:
        return self.status in Generation.FINISHED


def progress_read(pks: list) -> dict:
    """The progress of the generations `pks` that still exist, by primary key, in one query."""
    rows = Generation.objects.filter(pk__in=pks).values_list(*FIELDS)
    return {row[0]: Progress(*row[1:]) for row in rows}


def poll_interval(progress: Progress) -> float:
    """50 ms, or 10 ms when the generation should end within two polls at its rate so far."""
    if progress.status != Generation.Status.RUNNING or not progress.completion_tokens or not progress.first_token_at:
        return POLL_SECONDS
    elapsed = (timezone.now() - progress.first_token_at).total_seconds()
    if elapsed <= 0:
        return POLL_SECONDS
    remaining = (progress.max_new_tokens - progress.completion_tokens) * elapsed / progress.completion_tokens
    return END_POLL_SECONDS if remaining <= 2 * POLL_SECONDS else POLL_SECONDS


class Watch:
    """The followed generations of this process, read together by one daemon thread started on first use."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._wake = threading.Event()  # a new follower is read at once, not at the next tick
        self._followers: dict = {}  # pk -> how many streams follow it
        self._rows: dict = {}
        self._tick = 0
        self._thread: threading.Thread | None = None

    def follow(self, pk) -> None:
        with self._changed:
            self._followers[pk] = self._followers.get(pk, 0) + 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="generation-watch", daemon=True)
                self._thread.start()
        self._wake.set()

    def leave(self, pk) -> None:
        with self._changed:
            self._followers[pk] -= 1
            if not self._followers[pk]:
                del self._followers[pk]
                self._rows.pop(pk, None)

    def next(self, pk, after_tick: int, timeout: float) -> tuple[int, object]:
        """Wait (at most `timeout` seconds) for a read newer than `after_tick`: (its tick, the generation's
        Progress, or None once it no longer exists, or UNREAD when it has not been read yet)."""
        with self._changed:
            self._changed.wait_for(lambda: self._tick > after_tick and pk in self._rows, timeout=timeout)
            return self._tick, self._rows.get(pk, UNREAD)

    def _run(self) -> None:
        while True:
            with self._changed:
                pks = list(self._followers)
            if not pks:
                connection.close()  # an idle process holds no database connection for this thread
                self._wake.wait(timeout=60)
                self._wake.clear()
                continue
            try:
                rows = progress_read(pks)
            except Exception:  # the database went away for a moment: the streams keep waiting, the next tick retries
                log.exception("Reading the followed generations failed")
                connection.close()
                rows = None
            if rows is not None:
                with self._changed:
                    for pk in pks:
                        if pk in self._followers:
                            self._rows[pk] = rows.get(pk)
                    self._tick += 1
                    self._changed.notify_all()
            interval = min((poll_interval(row) for row in (rows or {}).values()), default=POLL_SECONDS)
            self._wake.wait(timeout=interval)
            self._wake.clear()


WATCH = Watch()
