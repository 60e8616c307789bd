"""Feedback pages under a model's id; included before the repository pages (models_hub imports nothing here)."""

from __future__ import annotations

from django.urls import path

from feedback import views_dashboard

app_name = "feedback_dashboard"

urlpatterns = [
    path("<str:namespace>/<str:name>/feedback", views_dashboard.dashboard, {"kind": "model"}, name="dashboard"),
    path("<str:namespace>/<str:name>/feedback/compare", views_dashboard.compare, {"kind": "model"}, name="compare"),
]
