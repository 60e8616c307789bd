"""Admin for feedback snapshots: build one (the add form: a model and the filters), follow them, see what they used."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from feedback.snapshots import services
from feedback.snapshots.forms import SnapshotForm
from feedback.snapshots.models import FeedbackSnapshot
from models_hub.errors import HubError
from models_hub.models import Repository


class SnapshotAdminForm(forms.ModelForm):
    """The model to take feedback from, then the staff page's fields (revisions as text: the model is not known
    when the form is drawn)."""

    class Meta:
        model = FeedbackSnapshot
        fields = ("model",)

    def __init__(self, *args, request=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.fields["model"].queryset = Repository.objects.filter(kind=Repository.Kind.MODEL).order_by(
            "namespace", "name"
        )
        filters_form = SnapshotForm()
        for name, field in filters_form.fields.items():
            if name != "revisions":
                self.fields[name] = field
        self.fields["dataset"].required = False
        self.fields["dataset"].help_text = "owner/name; empty: <you>/<model>-feedback. Created if missing."
        for name, value in SnapshotForm.defaults(dataset="").items():
            self.fields[name].initial = value

    def filters(self) -> dict:
        skipped = ("model", "dataset", "private", "other_revisions")
        data = {name: self.cleaned_data.get(name) for name in self.fields if name not in skipped}
        data["revisions"] = [
            r.strip() for r in (self.cleaned_data.get("other_revisions") or "").split(",") if r.strip()
        ]
        return data

    def clean(self):
        cleaned = super().clean()
        if self.errors or cleaned.get("model") is None:
            return cleaned
        try:
            services.snapshot_check(
                user=self.request.user,
                model=cleaned["model"],
                dataset_id=cleaned.get("dataset"),
                filters=self.filters(),
            )
        except HubError as exc:
            raise forms.ValidationError(exc.message) from None
        return cleaned


@admin.register(FeedbackSnapshot)
class FeedbackSnapshotAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "percent", "dataset_commit", "ratings_used", "created_by", "created_at")
    list_filter = ("status", "model")
    search_fields = ("dataset_name", "model__name", "model__namespace")
    list_select_related = ("model", "dataset", "commit", "created_by")
    readonly_fields = (
        "model",
        "dataset_name",
        "dataset",
        "dataset_private",
        "filters",
        "status",
        "progress",
        "ratings_seen",
        "ratings_used",
        "counts",
        "commit",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
    )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)

        class WithRequest(SnapshotAdminForm):
            def __init__(self, *args, **inner) -> None:
                super().__init__(*args, request=request, **inner)

        return WithRequest

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": list(SnapshotAdminForm(request=request).fields)})]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        snapshot = services.snapshot_request(
            user=request.user,
            model=form.cleaned_data["model"],
            dataset_id=form.cleaned_data.get("dataset"),
            filters=form.filters(),
            private=form.cleaned_data.get("private", True),
        )
        obj.pk = snapshot.pk
        obj.refresh_from_db()

    @admin.display(description="progress")
    def percent(self, snapshot: FeedbackSnapshot) -> str:
        url = f"{snapshot.model.get_absolute_url()}/feedback/snapshots/{snapshot.pk}"
        return format_html('<a href="{}">{} %</a>', url, int(snapshot.progress * 100))

    @admin.display(description="dataset commit")
    def dataset_commit(self, snapshot: FeedbackSnapshot) -> str:
        if snapshot.commit is None or snapshot.dataset is None:
            return snapshot.dataset_name
        url = f"{snapshot.dataset.get_absolute_url()}/commit/{snapshot.commit.oid}"
        return format_html('<a href="{}">{}@{}</a>', url, snapshot.dataset.repo_id, snapshot.commit.oid[:10])
