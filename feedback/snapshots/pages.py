"""Pages: a model's snapshots for staff (build one, watch it, reach its dataset commit) and, in a person's settings,
their consent to data use with the snapshots that used their ratings."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from feedback.snapshots import selectors, services
from feedback.snapshots.forms import SnapshotForm
from models_hub.errors import HubError, NotFound
from models_hub.models import Ref, Repository
from models_hub.views.common import repo_page, tab_context


def _require_staff(request: HttpRequest) -> None:
    if not request.user.is_authenticated or not request.user.is_staff:
        raise PermissionDenied("Only staff build datasets from feedback.")


def _detail_url(repo: Repository, snapshot_id: int) -> str:
    return f"{repo.get_absolute_url()}/feedback/snapshots/{snapshot_id}"


@login_required
@require_safe
@repo_page()
def snapshot_list(request: HttpRequest, repo: Repository) -> HttpResponse:
    _require_staff(request)
    snapshots = selectors.snapshots_for_model(repo)[:100]
    return render(request, "feedback/snapshot_list.html", {**tab_context(request, "feedback"), "snapshots": snapshots})


@login_required
@require_http_methods(["GET", "POST"])
@repo_page()
def snapshot_new(request: HttpRequest, repo: Repository) -> HttpResponse:
    """The form (GET), a build with the form's filters (POST), or a day of ratings at once (POST preset=day)."""
    _require_staff(request)
    dataset = services.default_dataset_id(user=request.user, model=repo)
    names = sorted(Ref.objects.filter(repository=repo).values_list("name", flat=True))
    defaults = SnapshotForm.defaults(dataset=dataset)
    if request.method == "POST" and request.POST.get("preset") == "day":
        form = None
        filters = {k: v for k, v in defaults.items() if k not in ("dataset", "private")}
        target, private = dataset, True
    else:
        form = SnapshotForm(request.POST or None, revision_names=names, initial=defaults)
        if request.method == "GET" or not form.is_valid():
            return _form_page(request, form)
        filters, target, private = form.filters(), form.cleaned_data["dataset"], form.cleaned_data["private"]
    try:
        snapshot = services.snapshot_request(
            user=request.user, model=repo, dataset_id=target, filters=filters, private=private
        )
    except HubError as exc:
        if form is None:  # the one-click day: the form with its defaults, and why nothing was built
            return _form_page(request, SnapshotForm(initial=defaults, revision_names=names), refusal=exc.message)
        form.add_error(None, exc.message)
        return _form_page(request, form)
    return redirect(_detail_url(repo, snapshot.pk))


def _form_page(request: HttpRequest, form: SnapshotForm, refusal: str = "") -> HttpResponse:
    context = {**tab_context(request, "feedback"), "form": form, "refusal": refusal}
    status = 400 if form.errors or refusal else 200
    return render(request, "feedback/snapshot_new.html", context, status=status)


@login_required
@require_safe
@repo_page()
def snapshot_detail(request: HttpRequest, repo: Repository, snapshot_id: int) -> HttpResponse:
    _require_staff(request)
    try:
        snapshot = selectors.snapshot_get(snapshot_id=snapshot_id)
    except NotFound as exc:
        raise Http404(exc.message) from None
    if snapshot.model_id != repo.pk:
        raise Http404(f"{repo.repo_id} has no feedback snapshot {snapshot_id}.")
    context = {**tab_context(request, "feedback"), "snapshot": snapshot, "percent": int(snapshot.progress * 100)}
    template = "feedback/snapshot_detail.html#progress" if request.htmx else "feedback/snapshot_detail.html"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def data_use(request: HttpRequest) -> HttpResponse:
    """Opt out of (or back into) training data use, and see which snapshots used one's ratings."""
    user = request.user
    if request.method == "POST":
        opt_out = request.POST.get("training_data_opt_out") == "on"
        services.consent_set(user=user, opt_out=opt_out)
        if opt_out:
            messages.success(request, "Your ratings will be left out of every dataset built from now on.")
        else:
            messages.success(request, "Your ratings may be used in datasets built from now on.")
        return redirect("feedback_snapshots:data-use")
    snapshots = selectors.snapshots_with_ratings_of(user).annotate(
        yours=Count("used_ratings", filter=Q(used_ratings__rating__user=user))
    )
    snapshots = list(snapshots[:200])
    # Datasets this person may not read are not named (one query, however many snapshots).
    readable = set(
        Repository.objects.visible_to(user)
        .filter(pk__in=[s.dataset_id for s in snapshots if s.dataset_id])
        .values_list("pk", flat=True)
    )
    rows = [(s, s.dataset_id in readable) for s in snapshots]
    return render(request, "feedback/data_use.html", {"rows": rows})
