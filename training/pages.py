"""Staff pages for training: start a run, watch it (live progress, loss chart), cancel it, promote it.

Every form works without JavaScript (post, redirect, get); with htmx the run page polls its live panel until
the run is over, and the start form checks the run (gates, estimate) as it is filled in.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from models_hub.errors import HubError
from models_hub.models import Repository
from training import services
from training.contributions import contributions_of
from training.forms import RunStartForm
from training.models import TrainingRun
from training.promotions import may_manage_runs, run_is_on_main, training_run_promote
from training.run_progress import chart_points, duration, progress_of
from training.start_flow import snapshot_get_for_staff, start_flow

RUN_PAGE = "training/run_detail.html"
RUNS_LISTED = 50


def staff_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous visitors are sent to log in; signed-in people who are not staff get 403."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not may_manage_runs(request.user):
            raise PermissionDenied("Training runs are for staff.")
        return view(request, *args, **kwargs)

    return wrapper


def run_get_for_staff(request: HttpRequest, run_id: int) -> TrainingRun:
    """The run, if its model is one this staff member can see (404 otherwise, as for the model itself)."""
    run = (
        TrainingRun.objects.select_related(
            "base_repository", "base_commit", "dataset_repository", "dataset_commit", "output_commit", "created_by"
        )
        .filter(pk=run_id)
        .first()
    )
    visible = Repository.objects.visible_to(request.user)
    if run is None or not visible.filter(pk=run.base_repository_id).exists():
        raise Http404("No such training run.")
    return run


def run_url(run: TrainingRun) -> str:
    return f"/training/runs/{run.pk}"


@require_safe
@staff_page
def run_list(request: HttpRequest) -> HttpResponse:
    runs = TrainingRun.objects.select_related("base_repository", "created_by").filter(
        base_repository__in=Repository.objects.visible_to(request.user)
    )[:RUNS_LISTED]
    return render(request, "training/run_list.html", {"runs": runs})


@require_http_methods(["GET", "HEAD", "POST"])
@staff_page
def run_new(request: HttpRequest) -> HttpResponse:
    return run_form_page(request, template="training/run_new.html", context={})


def run_form_page(request: HttpRequest, *, template: str, context: dict) -> HttpResponse:
    """The retrain form (staff page and admin panel alike): a started run opens its page, a snapshot asked for
    comes back to the form, anything else shows the form with the check or the refusals."""
    flow = start_flow(request)
    if flow.redirect_to:
        return redirect(flow.redirect_to)
    if flow.run is not None:
        messages.success(request, f"Started {flow.run}: follow it here.")
        return redirect(run_url(flow.run))
    context = {
        **context,
        "form": flow.form,
        "snapshot_form": flow.snapshot_form,
        "snapshot": flow.snapshot,
        "form_action": request.get_full_path(),
    }
    refused = request.method == "POST" and (flow.form.is_bound and flow.form.errors or flow.snapshot_form.errors)
    return render(request, template, context, status=400 if refused else 200)


@require_safe
@staff_page
def snapshot_status(request: HttpRequest, snapshot_id: int) -> HttpResponse:
    """The retrain form's snapshot panel, polled while the snapshot builds; once it is done, htmx reloads the
    page, whose form then names the snapshot's commit."""
    snapshot = snapshot_get_for_staff(request.user, snapshot_id)
    if snapshot is None:
        raise Http404("No such feedback snapshot.")
    response = render(request, "training/_snapshot_status.html", {"snapshot": snapshot})
    if request.htmx and snapshot.is_finished:
        response["HX-Refresh"] = "true"
    return response


@require_POST
@staff_page
def run_check(request: HttpRequest) -> HttpResponse:
    """The start form's check, for htmx: the estimate, or why the run would be refused."""
    form = RunStartForm(request.POST, user=request.user)
    form.is_valid()
    return render(request, "training/_run_plan.html", {"form": form})


def _run_context(request: HttpRequest, run: TrainingRun) -> dict:
    progress = progress_of(run, now=timezone.now())
    return {
        "run": run,
        "model": run.base_repository,
        "dataset": run.dataset_repository,
        "progress": progress,
        "eta": duration(progress.eta_seconds),
        "elapsed": duration(progress.elapsed_seconds),
        "estimate": duration(run.estimate_seconds),
        "points_json": json.dumps(chart_points(run)),
        "promotions": run.promotions.select_related("user", "to_commit"),
        "on_main": run.status == TrainingRun.Status.SUCCEEDED and run_is_on_main(run),
        "may_manage": may_manage_runs(request.user),
        "poll_ms": settings.FLYWHEEL_RUN_PAGE_POLL_MS,
    }


@require_safe
@staff_page
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = run_get_for_staff(request, run_id)
    template = f"{RUN_PAGE}#live" if request.htmx else RUN_PAGE
    return render(request, template, _run_context(request, run))


@require_POST
@staff_page
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    run = run_get_for_staff(request, run_id)
    try:
        run = services.training_run_cancel(run=run, user=request.user)
    except HubError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Cancelling {run}: it stops at its next step.")
    if request.htmx:
        return render(request, f"{RUN_PAGE}#live", _run_context(request, run))
    return redirect(run_url(run))


@require_POST
@staff_page
def run_promote(request: HttpRequest, run_id: int) -> HttpResponse:
    run = run_get_for_staff(request, run_id)
    try:
        promotion = training_run_promote(run=run, user=request.user, reason=request.POST.get("reason", ""))
    except HubError as exc:
        messages.error(request, exc.message)
    else:
        how = "fast-forward" if promotion.fast_forward else f"new commit {promotion.to_commit.short_oid}"
        messages.success(request, f"Promoted {run}: main of {run.base_repository.repo_id} now holds its files ({how}).")
    return redirect(run_url(run))


@require_safe
def contributions_panel(request: HttpRequest) -> HttpResponse:
    """The signed-in rater's own line on their profile: what their ratings went into (empty for anyone else)."""
    if not request.user.is_authenticated:
        return HttpResponse("")
    return render(request, "training/_contributions.html", {"contributions": contributions_of(request.user)})
