"""Routes of the Hugging Face Hub protocol (see /work/shared/hf_api.md).

Repo ids, revisions and paths contain '/' once Django has decoded %2F, so the rest of a URL after
the repo id is captured whole and split by the views (greedy ref matching).
"""

from django.urls import include, path, re_path

from models_hub.hub_api import downloads

app_name = "hub_api"

TYPE = r"(?P<repo_type>models|datasets|spaces)"
REPO = r"(?P<namespace>[\w.-]+)/(?P<name>[\w.-]+)"

urlpatterns = [
    # Download URLs have no prefix for models, /datasets/ or /spaces/ for the others.
    re_path(rf"^{REPO}/resolve/(?P<rest>.+)$", downloads.resolve, {"repo_type": "models"}, name="resolve"),
    re_path(rf"^{TYPE}/{REPO}/resolve/(?P<rest>.+)$", downloads.resolve, name="resolve-typed"),
    path("", include("models_hub.hub_api.write_urls")),
]
