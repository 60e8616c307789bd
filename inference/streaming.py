"""Following a generation as the worker writes it: the states a stream sends, read from the database.

The worker writes the text every 50 ms at most; readers look every 50 ms, so the page or client sees a
token at most about 100 ms after it was produced, whatever the broker. A reader that goes away
(the generator is closed) cancels a generation that is not finished, which frees the worker's slot.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.utils import timezone

from inference import services
from inference.models import Generation
from inference.selectors import queue_position

POLL_SECONDS = 0.05
# Near its predicted end (max_new_tokens at the rate so far) a generation is looked at this often, so the
# finished state is sent within ~10 ms of being written without polling every stream that fast all the time.
END_POLL_SECONDS = 0.01
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
    try:
        while time.monotonic() < deadline:
            current = Generation.objects.filter(pk=generation.pk).first()
            if current is None:
                return
            position = queue_position(current)
            key = (current.status, current.text, current.completion_tokens, position)
            if current.is_finished:
                finished = True
                yield State(current.status, current.text, current.completion_tokens, 0, True, current)
                return
            if key != last:
                last, last_sent = key, time.monotonic()
                yield State(current.status, current.text, current.completion_tokens, position, False)
            elif time.monotonic() - last_sent > KEEPALIVE_SECONDS:
                # Writing is how a dropped client is noticed.
                last_sent = time.monotonic()
                yield State(current.status, current.text, current.completion_tokens, position, False, keepalive=True)
            time.sleep(_poll_interval(current))
    finally:
        if not finished and cancel_on_disconnect:
            services.generation_cancel(generation=generation)


def _poll_interval(current: Generation) -> float:
    if current.status != Generation.Status.RUNNING or not current.completion_tokens or current.first_token_at is None:
        return POLL_SECONDS
    elapsed = (timezone.now() - current.first_token_at).total_seconds()
    if elapsed <= 0:
        return POLL_SECONDS
    # The worker writes progress every ~50 ms: the row's end may be that much past the tokens it shows.
    remaining = (current.max_new_tokens - current.completion_tokens) * elapsed / current.completion_tokens
    return END_POLL_SECONDS if remaining <= 2 * POLL_SECONDS else POLL_SECONDS
