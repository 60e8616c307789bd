"""Celery adapters for the arena: the leaderboard refit (periodic, after votes, on demand)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="feedback.arena_leaderboard_refit")
def leaderboard_refit() -> dict[str, int]:
    from feedback.arena.leaderboard import leaderboard_refit as refit

    return refit()


@shared_task(name="feedback.arena_run_battles_open", acks_late=True)
def run_battles_open(run_id: int) -> int:
    from feedback.arena.promotion import run_battles_open_by_id

    return run_battles_open_by_id(run_id)
