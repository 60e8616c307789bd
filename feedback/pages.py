"""Pages of the rating queue: a model's campaigns (start one, watch its progress) and "rate next"."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest as BadRequestPage
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from feedback import selectors, services
from feedback.forms import CampaignForm
from feedback.models import CampaignItem, RatingCampaign
from inference.selectors import generation_get_for_user
from models_hub.errors import HubError, NotFound
from models_hub.models import Ref, Repository
from models_hub.views.common import repo_page, tab_context

SKIPPED_KEPT = 500  # outputs a rater skipped, remembered in their session so "Skip" moves on


@require_safe
@repo_page()
def campaign_list(request: HttpRequest, repo: Repository) -> HttpResponse:
    campaigns = [(c, selectors.progress_of(c)) for c in selectors.campaigns_for_model(repo)[:100]]
    rows = [(c, p, selectors.campaign_status(c, p)) for c, p in campaigns]
    return render(
        request,
        "feedback/campaign_list.html",
        {
            **tab_context(request, "campaigns"),
            "rows": rows,
            "may_start": services.may_run_campaigns(request.user, repo),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
@repo_page()
def campaign_new(request: HttpRequest, repo: Repository) -> HttpResponse:
    if not services.may_run_campaigns(request.user, repo):
        raise PermissionDenied(f"Only staff and the maintainers of {repo.repo_id} start rating campaigns.")
    refs = Ref.objects.filter(repository=repo).values_list("kind", "name")
    names = {
        "branches": sorted(n for k, n in refs if k == Ref.Kind.BRANCH),
        "tags": sorted(n for k, n in refs if k == Ref.Kind.TAG),
    }
    form = CampaignForm(
        request.POST or None,
        request.FILES or None,
        prompt_sets=selectors.prompt_sets_for_user(request.user),
        refs=names,
        initial={"revisions": names["tags"][-2:] or ["main"]},
    )
    rejected_lines = []
    if request.method == "POST" and form.is_valid():
        try:
            campaign = _start(request, repo, form)
        except services.PromptSetRejected as exc:
            form.add_error(None, f"{exc.error_count:,} line(s) of the prompt file were rejected; nothing was created.")
            rejected_lines = exc.errors
        except HubError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect(f"{repo.get_absolute_url()}/campaigns/{campaign.pk}")
    context = {**tab_context(request, "campaigns"), "form": form, "rejected_lines": rejected_lines}
    return render(request, "feedback/campaign_new.html", context, status=400 if form.errors else 200)


@transaction.atomic  # a prompt set that no campaign uses is not left behind when the campaign is refused
def _start(request: HttpRequest, repo: Repository, form: CampaignForm) -> RatingCampaign:
    data = form.cleaned_data
    if data.get("file"):
        upload = data["file"]
        prompt_set = services.prompt_set_create(
            user=request.user,
            repo=repo,
            name="",
            data=upload.read(settings.FLYWHEEL_PROMPT_SET_MAX_BYTES + 1),
            filename=upload.name,
        )
    elif data.get("dataset"):
        prompt_set = services.prompt_set_from_dataset(
            user=request.user,
            repo=repo,
            dataset_id=data["dataset"],
            revision=data.get("dataset_revision") or "main",
            path=data["dataset_path"],
        )
    else:
        prompt_set = data["prompt_set"]
    return services.campaign_start(
        user=request.user,
        repo=repo,
        prompt_set=prompt_set,
        revisions=form.revision_names(),
        params=form.params(),
        raters_needed=data["raters_needed"],
        name=data.get("name") or "",
    )


@require_safe
@repo_page()
def campaign_detail(request: HttpRequest, repo: Repository, campaign_id: int) -> HttpResponse:
    try:
        campaign = selectors.campaign_get(repo=repo, campaign_id=campaign_id)
    except NotFound as exc:
        raise Http404(exc.message) from None
    progress = selectors.progress_of(campaign)
    context = {
        **tab_context(request, "campaigns"),
        "campaign": campaign,
        "progress": progress,
        "status": selectors.campaign_status(campaign, progress),
    }
    template = "feedback/campaign_detail.html#progress" if request.htmx else "feedback/campaign_detail.html"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def rate_next(request: HttpRequest, campaign_id: int | None = None) -> HttpResponse:
    """Serve the next output to rate, with the rating panel (which saves through feedback.views.rating_save and
    comes back here); a POST skips an output, or brings the skipped ones back."""
    campaign = None
    if campaign_id is not None:
        try:
            campaign = selectors.campaign_get_for_rater(campaign_id=campaign_id, user=request.user)
        except NotFound as exc:
            raise Http404(exc.message) from None
    if request.method == "POST":
        _skip_posted(request)
        if not request.htmx:
            return redirect(request.path)  # post, redirect, get
    skipped = request.session.get("rate_skipped", [])
    item = selectors.rating_next_for_user(user=request.user, campaign=campaign, skipped=skipped)
    context = {"campaign": campaign, "item": item, "skipped": bool(skipped)}
    template = "feedback/rate.html#item" if request.htmx else "feedback/rate.html"
    return render(request, template, context)


def _skip_posted(request: HttpRequest) -> None:
    """Skip the posted output for the rest of this session (the last SKIPPED_KEPT), or forget the skipped ones."""
    action = request.POST.get("action")
    if action == "reset-skipped":
        request.session["rate_skipped"] = []
        return
    if action != "skip":
        raise BadRequestPage("Rate an output with the rating panel; this address only skips one.")
    try:
        generation = generation_get_for_user(generation_id=request.POST.get("generation", ""), user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from None
    item_id = CampaignItem.objects.filter(generation=generation).values_list("pk", flat=True).first()
    if item_id is None:
        raise Http404("This output is not in the rating queue.")
    request.session["rate_skipped"] = [*request.session.get("rate_skipped", []), item_id][-SKIPPED_KEPT:]
