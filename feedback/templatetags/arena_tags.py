"""`{% head_to_head run %}`: on a training run's page, what blind battles against main say about it."""

from __future__ import annotations

from django import template
from django.conf import settings

from feedback.arena.models import Battle

register = template.Library()

WIDTH = 300  # the interval chart's drawing width (SVG units)


def _scale(result) -> dict | None:
    """Positions on a symmetric axis around zero for the point and its interval (SVG attributes, not styles,
    so the Content-Security-Policy holds)."""
    if result is None or result.difference is None:
        return None
    reach = max(100.0, abs(result.ci_low), abs(result.ci_high)) * 1.1

    def x(value: float) -> float:
        return round(WIDTH / 2 + value / reach * (WIDTH / 2 - 10), 1)

    low, high = x(result.ci_low), x(result.ci_high)
    return {"zero": x(0), "low": low, "width": max(1.0, round(high - low, 1)), "point": x(result.difference),
            "reach": round(reach), "width_total": WIDTH}  # fmt: skip


@register.inclusion_tag("feedback/_head_to_head.html")
def head_to_head(run) -> dict:
    from feedback.arena.promotion import run_head_to_head

    pin, result = run_head_to_head(run)
    open_battles = (
        Battle.objects.filter(pin=pin, status__in=(Battle.Status.GENERATING, Battle.Status.READY)).count() if pin else 0
    )
    return {
        "run": run,
        "pin": pin,
        "result": result,
        "chart": _scale(result),
        "open_battles": open_battles,
        "min_battles": settings.FLYWHEEL_ARENA_MIN_BATTLES,
    }
