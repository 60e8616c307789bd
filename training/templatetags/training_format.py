"""Figures on the training pages: losses, rates and metrics, with a dash for what is not known yet."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def figure(value, spec: str = "4g") -> str:
    """A number as `format(value, spec)` ("4g" keeps four significant digits); "—" for None or text."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    # Fixed-point figures get thousands separators (tokens/s); the others a precision only.
    return format(value, ("," if spec.endswith("f") else "") + "." + spec)


@register.filter
def metric_rows(metrics) -> list[tuple[str, object, object]]:
    """(name, parent value, run value) for every metric either side reports, the parent's order first."""
    if not isinstance(metrics, dict):
        return []
    before = metrics.get("before") if isinstance(metrics.get("before"), dict) else {}
    after = metrics.get("after") if isinstance(metrics.get("after"), dict) else {}
    names = list(before) + [name for name in after if name not in before]
    return [(str(name), before.get(name), after.get(name)) for name in names]
