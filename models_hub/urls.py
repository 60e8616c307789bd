"""Repository pages. Models live at /<ns>/<name>, datasets at /datasets/<ns>/<name>, as on the public hub."""

from __future__ import annotations

from django.urls import URLPattern, path

from models_hub.views import dataset_viewer, edit, manage, pages, upload

app_name = "models_hub"

REPO = "<str:namespace>/<str:name>"

# (suffix after the repository id, view, route name)
REPO_ROUTES = [
    ("", pages.repo_detail, "repo"),
    ("/like", pages.repo_like, "repo-like"),
    ("/access-request", pages.repo_access_request, "repo-access-request"),
    ("/access", manage.access_requests, "access"),
    ("/tree", pages.tree, "tree-root"),
    ("/tree/<path:rest>", pages.tree, "tree"),
    ("/blob/<path:rest>", pages.blob, "blob"),
    ("/commits", pages.commits, "commits-main"),
    ("/commits/<path:revision>", pages.commits, "commits"),
    ("/commit/<str:oid>", pages.commit_detail, "commit"),
    ("/settings", manage.repo_settings, "settings"),
    ("/edit/<path:rest>", edit.file_edit, "file-edit"),
    ("/delete/<path:rest>", edit.file_delete, "file-delete"),
    ("/upload/main", upload.upload_page, "upload"),
    ("/upload/main/commit", upload.upload_commit, "upload-commit"),
]


def _repo_patterns() -> list[URLPattern]:
    # Dataset routes first: otherwise /datasets/<ns>/... would read as a model owned by "datasets".
    patterns = []
    for prefix, kind in (("datasets/", "dataset"), ("", "model")):
        for suffix, view, name in REPO_ROUTES:
            patterns.append(path(f"{prefix}{REPO}{suffix}", view, {"kind": kind}, name=f"{kind}-{name}"))
    return patterns


urlpatterns = [
    path("new", manage.repo_new, {"kind": "model"}, name="repo-new"),
    path("new-dataset", manage.repo_new, {"kind": "dataset"}, name="dataset-new"),
    path("uploads/", upload.tus_collection, name="upload-create"),
    path("uploads/<uuid:upload_id>", upload.tus_resource, name="upload-detail"),
    path(f"datasets/{REPO}/viewer", dataset_viewer.dataset_viewer, {"kind": "dataset"}, name="dataset-viewer"),
    *_repo_patterns(),
]
