"""Routes of the Hugging Face Hub protocol (see /work/shared/hf_api.md).

Repo ids, revisions and paths contain '/' once Django has decoded %2F, so the rest of a URL after
the repo id is captured whole and split by the views (greedy ref matching).
"""

from django.urls import include, path, re_path

from models_hub.hub_api import downloads, read_views

app_name = "hub_api"

TYPE = r"(?P<repo_type>models|datasets|spaces)"
REPO = r"(?P<namespace>[\w.-]+)/(?P<name>[\w.-]+)"
API_REPO = rf"^api/{TYPE}/{REPO}"
ONE_SEGMENT = r"(?P<name>[\w.-]+)"

urlpatterns = [
    # Download URLs have no prefix for models, /datasets/ or /spaces/ for the others.
    re_path(rf"^{REPO}/resolve/(?P<rest>.+)$", downloads.resolve, {"repo_type": "models"}, name="resolve"),
    re_path(rf"^{TYPE}/{REPO}/resolve/(?P<rest>.+)$", downloads.resolve, name="resolve-typed"),
    # An id without an owner (`gpt2`, as the public hub's oldest models are named) is a missing repository
    # here, answered as one (RepoNotFound, JSON) so clients explain it; under /api/ the last route does that.
    re_path(rf"^(?:{TYPE}/)?{ONE_SEGMENT}/resolve/.+$", read_views.repo_without_owner, name="resolve-no-owner"),
    re_path(rf"^(?:{TYPE}/)?{ONE_SEGMENT}\.git/info/lfs/.*$", read_views.repo_without_owner, name="lfs-no-owner"),
    path("api/whoami-v2", read_views.whoami, name="whoami"),
    path("api/agent-harnesses", read_views.agent_harnesses, name="agent-harnesses"),
    re_path(rf"^api/{TYPE}$", read_views.repo_list, name="repo-list"),
    re_path(rf"{API_REPO}$", read_views.repo_info, name="repo-info"),
    re_path(rf"{API_REPO}/revision/(?P<revision>.+)$", read_views.repo_info, name="repo-info-revision"),
    re_path(rf"{API_REPO}/tree/(?P<rest>.+)$", read_views.tree, name="tree"),
    re_path(rf"{API_REPO}/paths-info/(?P<revision>.+)$", read_views.paths_info_view, name="paths-info"),
    re_path(rf"{API_REPO}/refs$", read_views.refs, name="refs"),
    re_path(rf"{API_REPO}/commits/(?P<revision>.+)$", read_views.commits, name="commits"),
    re_path(rf"{API_REPO}/auth-check$", read_views.auth_check, name="auth-check"),
    re_path(rf"{API_REPO}/auth-check/write$", read_views.auth_check, {"write": True}, name="auth-check-write"),
    re_path(rf"{API_REPO}/xet-read-token/(?P<revision>.+)$", read_views.xet_read_token, name="xet-read-token"),
    path("", include("models_hub.hub_api.write_urls")),
    # Last: nothing under /api/ falls through to an HTML 404. /api/v1/ (the REST API) is left to its own routes.
    re_path(r"^api/(?!v1/)(?P<rest>.*)$", read_views.api_not_found, name="api-not-found"),
]
