from django.urls import path, re_path

from feedback.snapshots import api, pages

api_urlpatterns = [
    re_path(r"^feedback-snapshots/?$", api.SnapshotCreateApi.as_view(), name="snapshot-create"),
    path("feedback-snapshots/<int:snapshot_id>", api.SnapshotDetailApi.as_view(), name="snapshot-detail"),
]

MODEL = {"kind": "model"}

# Included before the repository pages: /<owner>/<name>/feedback/... belongs to feedback.
page_urlpatterns = [
    path("settings/data-use", pages.data_use, name="data-use"),
    path("<str:namespace>/<str:name>/feedback/snapshots", pages.snapshot_list, MODEL, name="list"),
    path("<str:namespace>/<str:name>/feedback/snapshots/new", pages.snapshot_new, MODEL, name="new"),
    path(
        "<str:namespace>/<str:name>/feedback/snapshots/<int:snapshot_id>", pages.snapshot_detail, MODEL, name="detail"
    ),
]
