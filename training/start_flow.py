"""The retrain form's flow, shared by the staff page and the admin panel: check, start, or first build a fresh
feedback snapshot of the model (feedback.snapshots) and come back with its dataset commit filled in.

A snapshot builds in the worker; the page follows it (htmx) and reloads once it is done, so the form then names
the snapshot's exact commit, and the usual check (the quality gates, the estimate) applies before starting.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.http import HttpRequest, QueryDict

from feedback.snapshots import services as snapshots
from feedback.snapshots.forms import SnapshotForm
from feedback.snapshots.models import FeedbackSnapshot
from models_hub.errors import HubError
from models_hub.models import Ref, Repository
from models_hub.selectors import repo_access_for
from training.forms import FORM_PARAMS, RunStartForm
from training.models import TrainingRun

# What the form carries over while a snapshot builds (the dataset fields come from the snapshot).
CARRIED = ("revision", "method", "use_lora", *FORM_PARAMS)
SNAPSHOT_PREFIX = "snapshot"


@dataclass
class StartFlow:
    form: RunStartForm
    snapshot_form: SnapshotForm
    snapshot: FeedbackSnapshot | None = None
    run: TrainingRun | None = None
    redirect_to: str | None = None


def snapshot_get_for_staff(user, snapshot_id: object) -> FeedbackSnapshot | None:
    """A snapshot of a model `user` can see, or None (unknown, not a number, someone else's private model)."""
    if not str(snapshot_id).isdigit():
        return None
    visible = Repository.objects.visible_to(user)
    return (
        FeedbackSnapshot.objects.select_related("model", "dataset", "commit")
        .filter(pk=int(snapshot_id), model__in=visible)
        .first()
    )


def _model(user, repo_id: str) -> Repository | None:
    namespace, _, name = (repo_id or "").strip().strip("/").partition("/")
    if not namespace or not name or "/" in name:
        return None
    try:
        return repo_access_for(user, kind=Repository.Kind.MODEL, namespace=namespace, name=name).repo
    except HubError:
        return None


def _snapshot_form(user, model: Repository | None, data: QueryDict | None) -> SnapshotForm:
    names = sorted(Ref.objects.filter(repository=model).values_list("name", flat=True)) if model else []
    dataset = snapshots.default_dataset_id(user=user, model=model) if model else ""
    return SnapshotForm(
        data, prefix=SNAPSHOT_PREFIX, revision_names=names, initial=SnapshotForm.defaults(dataset=dataset)
    )


def _initial(request: HttpRequest, snapshot: FeedbackSnapshot | None) -> dict:
    query = request.GET
    initial = {name: query[name][:255] for name in CARRIED if name in query}
    initial["base_model"] = query.get("base", "")[:200]
    initial["dataset"] = query.get("dataset", "")[:200]
    if snapshot is not None:
        initial["base_model"] = initial["base_model"] or snapshot.model.repo_id
        initial["dataset"] = snapshot.dataset_name
        initial["dataset_revision"] = snapshot.commit.oid if snapshot.commit else "main"
    return initial


def start_flow(request: HttpRequest) -> StartFlow:
    """The forms for this request, and what to do next: a run started, or a redirect after asking for a snapshot."""
    user = request.user
    snapshot = snapshot_get_for_staff(user, request.GET.get("snapshot", ""))
    posted = request.POST if request.method == "POST" else None
    if posted is not None and "build_snapshot" in posted:
        return _build_snapshot(request, posted)
    initial = _initial(request, snapshot)
    flow = StartFlow(
        form=RunStartForm(posted, user=user, initial=initial),
        snapshot_form=_snapshot_form(user, _model(user, initial["base_model"]), None),
        snapshot=snapshot,
    )
    if posted is not None and "start" in posted and flow.form.is_valid():
        flow.run = flow.form.start()
    return flow


def _build_snapshot(request: HttpRequest, posted: QueryDict) -> StartFlow:
    user = request.user
    model = _model(user, posted.get("base_model", ""))
    snapshot_form = _snapshot_form(user, model, posted)
    form = RunStartForm(
        user=user, initial={name: posted.get(name) for name in posted if not name.startswith(f"{SNAPSHOT_PREFIX}-")}
    )
    flow = StartFlow(form=form, snapshot_form=snapshot_form)
    if model is None:
        snapshot_form.add_error(None, "Name the model to take the feedback of (owner/name) above first.")
        return flow
    if not snapshot_form.is_valid():
        return flow
    try:
        snapshot = snapshots.snapshot_request(
            user=user,
            model=model,
            dataset_id=snapshot_form.cleaned_data["dataset"],
            filters=snapshot_form.filters(),
            private=snapshot_form.cleaned_data["private"],
        )
    except HubError as exc:
        snapshot_form.add_error(None, exc.message)
        return flow
    carried = {name: posted[name] for name in CARRIED if posted.get(name)}
    query = {"base": model.repo_id, "snapshot": snapshot.pk, **carried}
    flow.redirect_to = f"{request.path}?{urlencode(query)}"
    return flow
