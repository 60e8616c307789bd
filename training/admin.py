"""Admin for training: "Retrain from feedback…" on model repositories and its form, training runs (filters,
read-only progress, a link to the run page, cancel) and the promotions audit trail (read only).

The form is the staff page's form (training.forms.RunStartForm) and starts runs through the same service.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html

from models_hub.admin import ReadOnlyAdmin, RepositoryAdmin
from models_hub.errors import HubError
from models_hub.models import Repository
from training import services
from training.models import Promotion, TrainingRun
from training.pages import run_form_page, run_url
from training.promotions import may_manage_runs


@admin.action(description="Retrain from feedback…")
def retrain_from_feedback(modeladmin, request: HttpRequest, queryset) -> HttpResponse | None:
    chosen = list(queryset[:2])
    if len(chosen) != 1 or chosen[0].kind != Repository.Kind.MODEL:
        modeladmin.message_user(request, "Choose exactly one model repository to retrain.", messages.WARNING)
        return None
    return redirect(reverse("admin:training_trainingrun_retrain") + "?" + urlencode({"base": chosen[0].repo_id}))


# The registry's admin knows nothing of training: the action joins it from here.
RepositoryAdmin.actions = [*(RepositoryAdmin.actions or []), retrain_from_feedback]


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "model", "method", "use_lora", "status", "progress", "created_by", "created_at")
    list_filter = ("status", "method", "use_lora", "device", "created_at")
    list_select_related = ("base_repository", "created_by")
    search_fields = ("=id", "base_repository__namespace", "base_repository__name", "dataset_repository__name")
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    actions = ["cancel_runs"]
    fieldsets = [
        (None, {"fields": ("run_page", "status", "progress", "device", "error", "cancel_requested")}),
        (
            "Lineage",
            {
                "fields": (
                    "base_repository",
                    "base_commit",
                    "dataset_repository",
                    "dataset_commit",
                    "output_branch",
                    "output_commit",
                )
            },
        ),
        ("Method", {"fields": ("method", "use_lora", "hyperparameters", "estimate_seconds")}),
        ("Results", {"fields": ("metrics", "samples", "log_tail")}),
        (
            "Job",
            {
                "fields": (
                    "created_by",
                    "created_at",
                    "started_at",
                    "finished_at",
                    "heartbeat_at",
                    "celery_task_id",
                    "attempts",
                )
            },
        ),
    ]
    readonly_fields = ("run_page", "progress")

    def get_urls(self):
        retrain = path("retrain/", self.admin_site.admin_view(self.retrain_view), name="training_trainingrun_retrain")
        return [retrain, *super().get_urls()]

    def has_add_permission(self, request, obj=None) -> bool:
        return may_manage_runs(request.user)  # "Add" leads to the retrain form

    def add_view(self, request, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:training_trainingrun_retrain"))

    def retrain_view(self, request: HttpRequest) -> HttpResponse:
        if not may_manage_runs(request.user):
            messages.error(request, "Only staff start training runs.")
            return redirect("admin:index")
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": "Retrain from feedback"}
        return run_form_page(request, template="admin/training/retrain.html", context=context)

    @admin.display(description="model", ordering="base_repository__namespace")
    def model(self, run: TrainingRun) -> str:
        return run.base_repository.repo_id

    @admin.display(description="progress")
    def progress(self, run: TrainingRun) -> str:
        total = run.total_steps or 0
        return format_html(
            '<progress value="{}" max="{}"></progress> {}/{}', run.step, max(total, 1), run.step, total or "?"
        )

    @admin.display(description="run page")
    def run_page(self, run: TrainingRun) -> str:
        return format_html('<a href="{}">Open {}: live progress, loss chart, samples, promote</a>', run_url(run), run)

    @admin.action(description="Cancel the selected runs")
    def cancel_runs(self, request: HttpRequest, queryset) -> None:
        cancelled, refused = 0, []
        for run in queryset.filter(status__in=(TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)):
            try:
                services.training_run_cancel(run=run, user=request.user)
                cancelled += 1
            except HubError as exc:
                refused.append(exc.message)
        self.message_user(request, f"Cancelling {cancelled} run(s).", messages.SUCCESS)
        for message in refused[:5]:
            self.message_user(request, message, messages.ERROR)


@admin.register(Promotion)
class PromotionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "repository", "kind", "from_commit", "to_commit", "fast_forward", "run", "user")
    list_filter = ("kind", "fast_forward", "created_at")
    list_select_related = ("repository", "from_commit", "to_commit", "run", "user")
    search_fields = ("repository__namespace", "repository__name", "reason", "=to_commit__oid")
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    fields = (
        "repository",
        "kind",
        "from_commit",
        "to_commit",
        "source_commit",
        "fast_forward",
        "run",
        "user",
        "reason",
        "evidence",
        "created_at",
    )
