"""How the dashboards print figures: a missing figure is a dash, never 'None' or 0."""

from __future__ import annotations

from django import template

register = template.Library()

DASH = "—"


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    return DASH if value is None else f"{100 * value:.{digits}f}%"


@register.filter
def decimal(value: float | None, digits: int = 2) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


@register.filter
def points(value: float | None) -> str:
    """A difference in percentage points, signed."""
    return DASH if value is None else f"{value:+.1f} pts"


@register.filter
def interval(bounds: tuple[float, float] | None) -> str:
    return DASH if bounds is None else f"{100 * bounds[0]:.1f}–{100 * bounds[1]:.1f}%"
