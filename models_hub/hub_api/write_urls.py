"""Routes of the write side of the Hub protocol (included by models_hub.hub_api.urls).

Branch names, tags and revisions may contain '/' once Django has decoded %2F, and nothing follows
them in these URLs, so they are captured whole.
"""

from django.urls import path, re_path

from models_hub.hub_api import access_views, lfs, write_views

TYPE = r"(?P<repo_type>models|datasets|spaces)"
REPO = r"(?P<namespace>[\w.-]+)/(?P<name>[\w.-]+)"
LFS_REPO = rf"(?:(?P<prefix>datasets|spaces)/)?{REPO}\.git/info/lfs/objects"

urlpatterns = [
    path("api/repos/create", write_views.repo_create, name="repo-create"),
    path("api/repos/delete", write_views.repo_delete, name="repo-delete"),
    path("api/repos/move", write_views.repo_move, name="repo-move"),
    path("api/validate-yaml", write_views.validate_yaml, name="validate-yaml"),
    re_path(rf"^api/{TYPE}/{REPO}/settings$", write_views.repo_settings, name="repo-settings"),
    re_path(rf"^api/{TYPE}/{REPO}/like$", write_views.repo_like, name="repo-like"),
    re_path(
        rf"^api/{TYPE}/{REPO}/user-access-request/(?P<status>pending|accepted|rejected)$",
        access_views.access_request_list,
        name="access-request-list",
    ),
    re_path(
        rf"^api/{TYPE}/{REPO}/user-access-request/handle$", access_views.access_request_handle, name="access-handle"
    ),
    re_path(rf"^api/{TYPE}/{REPO}/user-access-request/grant$", access_views.access_grant, name="access-grant"),
    re_path(rf"^api/{TYPE}/{REPO}/preupload/(?P<revision>.+)$", write_views.preupload, name="preupload"),
    re_path(rf"^api/{TYPE}/{REPO}/commit/(?P<revision>.+)$", write_views.commit, name="commit"),
    re_path(rf"^api/{TYPE}/{REPO}/branch/(?P<branch_name>.+)$", write_views.branch, name="branch"),
    re_path(rf"^api/{TYPE}/{REPO}/tag/(?P<revision>.+)$", write_views.tag, name="tag"),
    re_path(
        rf"^api/{TYPE}/{REPO}/xet-write-token(?:/(?P<revision>.*))?$", write_views.xet_write_token, name="xet-write"
    ),
    re_path(rf"^{LFS_REPO}/batch$", lfs.batch, name="lfs-batch"),
    re_path(rf"^{LFS_REPO}/(?P<oid>[0-9a-f]{{64}})$", lfs.upload, name="lfs-upload"),
    re_path(rf"^{LFS_REPO}/(?P<oid>[0-9a-f]{{64}})/verify$", lfs.verify, name="lfs-verify"),
]
