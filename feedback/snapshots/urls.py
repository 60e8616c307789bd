from django.urls import path, re_path

from feedback.snapshots import api

api_urlpatterns = [
    re_path(r"^feedback-snapshots/?$", api.SnapshotCreateApi.as_view(), name="snapshot-create"),
    path("feedback-snapshots/<int:snapshot_id>", api.SnapshotDetailApi.as_view(), name="snapshot-detail"),
]
