"""Following a generation as the worker writes it: the states a stream sends, read from the database.

The worker writes the text every 50 ms at most; the process's watch (`inference.watch`) reads every followed
generation every 50 ms in one query, so the page or client sees a token at most about 100 ms after it was
produced, whatever the broker. A reader that goes away (the generator is closed) cancels a generation that is
not finished, which frees the worker's slot.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection

from inference import services
from inference.models import Generation
from inference.selectors import queue_position
from inference.watch import POLL_SECONDS, UNREAD, WATCH, poll_interval, progress_read

KEEPALIVE_SECONDS = 5.0
MAX_FOLLOW_SECONDS = 15 * 60


@dataclass(frozen=True)
class State:
    status: str
    text: str
    completion_tokens: int
    queue_position: int
    finished: bool
    generation: Generation | None = None  # set on the last state
    keepalive: bool = False


def follow(generation: Generation, *, cancel_on_disconnect: bool = True) -> Iterator[State]:
    """Yield a State whenever something changed (and a keep-alive now and then), until the generation ends."""
    last: tuple | None = None
    last_sent = time.monotonic()
    deadline = last_sent + MAX_FOLLOW_SECONDS
    finished = False
    # Inside a transaction (a test's), the watch's own connection could not see what this one sees: read here.
    shared = not connection.in_atomic_block
    if shared:
        WATCH.follow(generation.pk)
    tick = -1
    try:
        while time.monotonic() < deadline:
            if shared:
                tick, current = WATCH.next(generation.pk, tick, timeout=KEEPALIVE_SECONDS)
            else:
                current = progress_read([generation.pk]).get(generation.pk)
            if current is None:
                return
            if current is not UNREAD:
                if current.is_finished:
                    final = Generation.objects.filter(pk=generation.pk).first()
                    if final is None:
                        return
                    finished = True
                    yield State(final.status, final.text, final.completion_tokens, 0, True, final)
                    return
                position = queue_position(current)
                key = (current.status, current.text, current.completion_tokens, position)
                if key != last:
                    last, last_sent = key, time.monotonic()
                    yield State(current.status, current.text, current.completion_tokens, position, False)
            if time.monotonic() - last_sent > KEEPALIVE_SECONDS:
                # Writing is how a dropped client is noticed.
                last_sent = time.monotonic()
                status, text, tokens, position = last or (Generation.Status.QUEUED, "", 0, 0)
                yield State(status, text, tokens, position, False, keepalive=True)
            if not shared:
                time.sleep(poll_interval(current) if current is not UNREAD else POLL_SECONDS)
    finally:
        if shared:
            WATCH.leave(generation.pk)
        if not finished and cancel_on_disconnect:
            services.generation_cancel(generation=generation)
