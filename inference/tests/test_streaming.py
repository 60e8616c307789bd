"""How often a stream looks at its generation: fast only near the predicted end, so the last event comes soon."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from inference.models import Generation
from inference.watch import END_POLL_SECONDS, POLL_SECONDS, poll_interval


def running(tokens: int, *, of: int = 64, seconds: float = 1.0) -> Generation:
    started = timezone.now() - timedelta(seconds=seconds)
    return Generation(status="running", max_new_tokens=of, completion_tokens=tokens, first_token_at=started)


def test_a_stream_looks_more_often_only_when_the_generation_should_end_within_two_polls():
    assert poll_interval(running(10)) == POLL_SECONDS  # 54 tokens to go at 10 a second
    assert poll_interval(running(62)) == END_POLL_SECONDS  # 2 tokens at 62 a second: ~32 ms
    assert poll_interval(running(0)) == POLL_SECONDS
    assert poll_interval(Generation(status="queued", max_new_tokens=64)) == POLL_SECONDS
