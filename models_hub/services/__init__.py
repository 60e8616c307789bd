"""Writes to repositories, by subject. Views, the REST API and the Hub API call these."""

from models_hub.services.access import access_grant, access_request_decide, access_request_submit
from models_hub.services.commits import (
    FileAddition,
    FileCopy,
    branch_fast_forward,
    commit_create,
    descends_from,
    upload_title,
)
from models_hub.services.refs import branch_create, branch_delete, tag_create, tag_delete
from models_hub.services.repos import (
    DEFAULT_GITATTRIBUTES,
    like_set,
    namespace_check_writable,
    repo_create,
    repo_delete,
    repo_move,
    repo_record_download,
    repo_update_settings,
)

__all__ = [
    "DEFAULT_GITATTRIBUTES",
    "FileAddition",
    "FileCopy",
    "access_grant",
    "access_request_decide",
    "access_request_submit",
    "branch_create",
    "branch_delete",
    "branch_fast_forward",
    "commit_create",
    "descends_from",
    "like_set",
    "namespace_check_writable",
    "repo_create",
    "repo_delete",
    "repo_move",
    "repo_record_download",
    "repo_update_settings",
    "tag_create",
    "tag_delete",
    "upload_title",
]
