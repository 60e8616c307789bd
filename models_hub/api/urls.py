from django.urls import path

from models_hub.api import datasets, raw_upload, schema, upload, views
from models_hub.models import Repository

app_name = "api"
# Imported for its side effect: registering the bearer-token scheme with drf-spectacular.
_ = schema

REPO = "repos/<str:kind>/<str:namespace>/<str:name>/"

urlpatterns = [
    path("models/", views.RepoListApi.as_view(), {"kind": Repository.Kind.MODEL}, name="model-list"),
    path("datasets/", views.RepoListApi.as_view(), {"kind": Repository.Kind.DATASET}, name="dataset-list"),
    path("repos/", views.RepoCreateApi.as_view(), name="repo-create"),
    path(
        "datasets/<str:namespace>/<str:name>/validation",
        datasets.DatasetValidationApi.as_view(),
        name="dataset-validation",
    ),
    path("datasets/<str:namespace>/<str:name>/rows", datasets.DatasetRowsApi.as_view(), name="dataset-rows"),
    path(REPO, views.RepoDetailApi.as_view(), name="repo-detail"),
    path(REPO + "tree/<path:rev>/", views.TreeApi.as_view(), name="repo-tree"),
    path(REPO + "commits/<path:rev>/", views.CommitListApi.as_view(), name="repo-commits"),
    path(REPO + "refs/", views.RefListApi.as_view(), name="repo-refs"),
    path(REPO + "upload/<path:branch>/", upload.UploadApi.as_view(), name="repo-upload"),
    path(REPO + "files/<path:rest>", raw_upload.RawUploadApi.as_view(), name="repo-file-put"),
    path(REPO + "like/", views.LikeApi.as_view(), name="repo-like"),
    path(REPO + "access-request/", views.AccessRequestApi.as_view(), name="repo-access-request"),
]
