"""`{% rating_panel generation %}`: the rating panel on any page that shows a finished output."""

from __future__ import annotations

from django import template

from feedback.views import rating_panel_context

register = template.Library()


@register.inclusion_tag("feedback/_rating_panel.html", takes_context=True)
def rating_panel(context: template.Context, generation, compact: bool = False, next_url: str = "") -> dict:
    request = context["request"]
    panel = rating_panel_context(
        generation=generation, user=request.user, next_url=next_url or request.get_full_path(), compact=compact
    )
    # An inclusion tag starts from an empty context: the form needs the request's CSRF token.
    return {**panel, "request": request, "csrf_token": context.get("csrf_token")}
