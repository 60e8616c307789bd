"""The playground pages under a model's id; included before the registry's pages, which know nothing of them."""

from __future__ import annotations

from django.urls import path

from inference import views

app_name = "inference"

REPO = "<str:namespace>/<str:name>/playground"
MODEL = {"kind": "model"}

urlpatterns = [
    path(REPO, views.playground, MODEL, name="playground"),
    path(f"{REPO}/widget", views.widget, MODEL, name="widget"),
    path(f"{REPO}/<uuid:generation_id>", views.generation_page, MODEL, name="generation"),
    path(f"{REPO}/<uuid:generation_id>/stop", views.generation_stop, MODEL, name="generation-stop"),
]
