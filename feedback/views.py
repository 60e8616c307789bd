"""The rating panel: shown under every finished output, saved here (htmx swaps the panel; without
JavaScript the form posts and comes back to the page it was on)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from accounts.models import User
from feedback import selectors, services
from feedback.models import Rating
from inference.models import Generation
from inference.selectors import generation_get_for_user
from inference.services import TooManyRequests
from models_hub.errors import BadRequest, NotFound
from models_hub.selectors import repo_access

PANEL = "feedback/_rating_panel.html"


def rating_panel_context(
    *, generation: Generation, user: User | None, next_url: str, rating: Rating | None = None, compact: bool = False
) -> dict:
    """Everything `feedback/_rating_panel.html` shows; other pages (a rating queue) render it with this."""
    signed_in = user is not None and user.is_authenticated
    if rating is None:
        rating = selectors.rating_of(generation=generation, user=user)
    return {
        "generation": generation,
        "rating": rating,
        "tags": selectors.rating_tags() if signed_in else [],
        "thumb": rating.thumb if rating else "",
        "stars": str(rating.stars or "") if rating else "",
        "comment": rating.comment if rating else "",
        "chosen_tags": set(rating.tags) if rating else set(),
        # An untouched correction box holds the output itself, which is not a correction.
        "correction": (rating.correction if rating and rating.correction else generation.text),
        "maintainer": signed_in and repo_access(generation.repository, user).member,
        "signed_in": signed_in,
        "next_url": next_url,
        "compact": compact,
    }


def _next_url(request: HttpRequest, generation: Generation) -> str:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return generation.repository.get_absolute_url()


def _rating_input(request: HttpRequest, generation: Generation) -> services.RatingInput:
    stars = request.POST.get("stars", "").strip()
    if stars and not stars.isdigit():
        raise BadRequest(f"'stars' must be a whole number from 1 to 5; got {stars!r}.")
    correction = _lines(request.POST.get("correction", ""))
    return services.RatingInput(
        thumb=request.POST.get("thumb", ""),
        stars=int(stars) if stars else None,
        tags=request.POST.getlist("tags"),
        comment=_lines(request.POST.get("comment", "")),
        correction="" if correction.strip() == _lines(generation.text).strip() else correction,
    )


def _lines(text: str) -> str:
    """Browsers send a textarea's line breaks as CRLF, and show a lone CR as a line break."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


@require_POST
def rating_save(request: HttpRequest, generation_id: str) -> HttpResponse:
    """Create or change the visitor's rating of one output (one per person per output)."""
    if not request.user.is_authenticated:
        login = redirect_to_login(request.POST.get("next") or "/")
        return HttpResponseClientRedirect(login["Location"]) if request.htmx else login
    try:
        generation = generation_get_for_user(generation_id=generation_id, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from None
    next_url = _next_url(request, generation)
    error, status, rating, retry_after = "", 200, None, None
    try:
        rating, _created = services.rating_submit(
            generation=generation, user=request.user, data=_rating_input(request, generation)
        )
    except TooManyRequests as exc:
        error, status, retry_after = exc.message, exc.status, exc.retry_after
    except BadRequest as exc:
        error, status = exc.message, exc.status
    if not request.htmx:
        if error:
            messages.error(request, f"Your rating was not saved: {error}")
        else:
            messages.success(request, "Rating saved.")
        return redirect(next_url)
    context = rating_panel_context(
        generation=generation, user=request.user, next_url=next_url, compact=request.POST.get("compact") == "1"
    )
    context.update({"saved": not error, "error": error})
    if error:  # show what was sent, not the stored rating, so nothing typed is lost
        sent = request.POST
        context.update(
            {
                "thumb": sent.get("thumb", ""),
                "stars": sent.get("stars", ""),
                "comment": sent.get("comment", ""),
                "chosen_tags": set(sent.getlist("tags")),
                "correction": sent.get("correction", ""),
            }
        )
    response = render(request, PANEL, context, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response
