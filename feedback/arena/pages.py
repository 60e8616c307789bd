"""Arena pages: play a battle (write a prompt or take a pinned comparison's), vote, see who was who; the
leaderboard with its chart. Forms work without JavaScript (post, redirect, get); htmx swaps the battle in
place and polls it while the outputs are written."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from feedback.arena import selectors, services
from feedback.arena.api import leaderboard_rows, model_scope
from feedback.arena.models import Battle
from inference.services import TooManyRequests
from models_hub.errors import BadRequest, HubError, NotFound

PAGE = "feedback/arena.html"


def _battle(request: HttpRequest, battle_id) -> Battle:
    try:
        battle = selectors.battle_get_for_user(battle_id=str(battle_id), user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from None
    return services.battle_refresh(battle)


def _context(request: HttpRequest, battle=None, **extra) -> dict:
    user = request.user if request.user.is_authenticated else None
    vote = selectors.vote_of(battle=battle, user=user) if battle is not None else None
    return {
        "battle": battle,
        "vote": vote,
        "pins": list(selectors.pins_for_user(user)[:20]),
        "open_battle": selectors.battle_next_for_user(user=user) if user and (battle is None or vote) else None,
        "prompt_cap": settings.FLYWHEEL_ARENA_MAX_PROMPT_CHARS,
        **extra,
    }


@require_http_methods(["GET", "POST"])
def arena(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, PAGE, _context(request, prompt=request.GET.get("prompt", "")[:200]))
    if not request.user.is_authenticated:
        return redirect(f"/accounts/login/?next={request.path}")
    data = request.POST
    models = [m for m in (data.get("model_a", "").strip(), data.get("model_b", "").strip()) if m]
    try:
        pin = selectors.pin_get_for_user(pin_id=data["pin"], user=request.user) if data.get("pin") else None
        if len(models) == 1:
            raise BadRequest("Name both models, or neither to have them drawn for you.")
        battle = services.battle_create(
            user=request.user, prompt=data.get("prompt", "").replace("\r\n", "\n"), models=models or None, pin=pin
        )
    except HubError as exc:
        context = _context(request, prompt=data.get("prompt", ""), model_a=data.get("model_a", ""))
        context.update({"model_b": data.get("model_b", ""), "error": exc.message})
        return render(request, PAGE, context, status=exc.status)
    return redirect("arena:battle", battle_id=battle.pk)


@require_http_methods(["GET"])
def battle_page(request: HttpRequest, battle_id) -> HttpResponse:
    battle = _battle(request, battle_id)
    services.battle_seen(battle=battle, user=request.user)
    template = f"{PAGE}#battle" if request.htmx else PAGE
    return render(request, template, _context(request, battle))


@login_required
@require_POST
def battle_vote(request: HttpRequest, battle_id) -> HttpResponse:
    battle = _battle(request, battle_id)
    error, status, retry_after = "", 200, None
    try:
        services.battle_vote(battle=battle, user=request.user, winner=request.POST.get("winner", ""))
    except TooManyRequests as exc:
        error, status, retry_after = exc.message, exc.status, exc.retry_after
    except HubError as exc:
        error, status = exc.message, exc.status
    if not request.htmx:
        if error:
            messages.error(request, f"Your vote was not recorded: {error}")
        return redirect("arena:battle", battle_id=battle.pk)
    response = render(request, f"{PAGE}#battle", _context(request, battle, vote_error=error), status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@require_http_methods(["GET", "POST"])
def leaderboard(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if not request.user.is_staff:
            raise Http404("Only staff refit the leaderboard.")
        from feedback.arena.tasks import leaderboard_refit

        leaderboard_refit.delay()
        messages.success(request, "Refit queued: the leaderboard updates in a moment.")
        return redirect(request.get_full_path())
    model = request.GET.get("model", "").strip()
    try:
        repo = model_scope(request, model) if model else None
    except HubError as exc:
        raise Http404(exc.message) from None
    fit, entries = selectors.leaderboard_for_user(user=request.user, repo=repo)
    rows = leaderboard_rows(entries)
    chart = {
        "labels": [f"{r['model']}@{r['commit'][:7]}" for r in rows],
        "ratings": [r["rating"] for r in rows],
        "intervals": [[r["ci_low"], r["ci_high"]] for r in rows],
    }
    return render(
        request,
        "feedback/arena_leaderboard.html",
        {
            "fit": fit,
            "rows": list(zip(rows, entries, strict=True)),
            "chart": chart,
            "repo": repo,
            "model": model,
            "min_battles": settings.FLYWHEEL_ARENA_MIN_BATTLES,
        },
    )
