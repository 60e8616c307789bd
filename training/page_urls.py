"""Training pages: staff pages under /training/, and a model's promotions under its id (included before the
registry's pages, which know nothing of them)."""

from __future__ import annotations

from django.urls import path

from training import pages, promotion_pages

app_name = "training_pages"

MODEL = {"kind": "model"}
PROMOTIONS = "<str:namespace>/<str:name>/promotions"

urlpatterns = [
    path("training/runs", pages.run_list, name="run-list"),
    path("training/runs/new", pages.run_new, name="run-new"),
    path("training/runs/new/check", pages.run_check, name="run-check"),
    path("training/snapshots/<int:snapshot_id>/status", pages.snapshot_status, name="snapshot-status"),
    path("training/runs/<int:run_id>", pages.run_detail, name="run-detail"),
    path("training/runs/<int:run_id>/cancel", pages.run_cancel, name="run-cancel"),
    path("training/runs/<int:run_id>/promote", pages.run_promote, name="run-promote"),
    path("training/contributions", pages.contributions_panel, name="contributions"),
    path(PROMOTIONS, promotion_pages.promotion_list, MODEL, name="promotions"),
    path(f"{PROMOTIONS}/panel", promotion_pages.promotion_panel, MODEL, name="promotion-panel"),
    path(f"{PROMOTIONS}/rollback", promotion_pages.promotion_rollback_post, MODEL, name="promotion-rollback"),
]
