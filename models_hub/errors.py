"""Errors raised by services and selectors, each with the HTTP status and Hub error code it maps to."""

from __future__ import annotations


class HubError(Exception):
    status = 400
    code = ""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(HubError):
    status = 400


def refuse_nul(text: str, what: str) -> str:
    """`text`, unless it holds a NUL character: PostgreSQL stores no such text, so it is refused with a reason."""
    if "\x00" in text:
        raise BadRequest(f"{what} contains a NUL character (\\u0000), which cannot be stored.")
    return text


class InvalidRepoPath(BadRequest):
    """A file path that cannot be in a repository ('..', absolute, NUL, a backslash...)."""

    hub_status = 422  # what the Hub protocol answers (the site's own API keeps 400)


class Forbidden(HubError):
    status = 403


class RepoNotFound(HubError):
    status = 404
    code = "RepoNotFound"


class RevisionNotFound(HubError):
    status = 404
    code = "RevisionNotFound"


class EntryNotFound(HubError):
    status = 404
    code = "EntryNotFound"

    def __init__(self, message: str, *, commit_oid: str = "") -> None:
        super().__init__(message)
        self.commit_oid = commit_oid


class Conflict(HubError):
    status = 409


class RepoExists(Conflict):
    """A repository with this id, in any letter case, exists: `repo_id` and `url` are its real ones."""

    def __init__(self, message: str, *, repo_id: str, url: str) -> None:
        super().__init__(message)
        self.repo_id = repo_id
        self.url = url


class PreconditionFailed(HubError):
    status = 412


class PayloadTooLarge(HubError):
    status = 413


class GatedRepo(HubError):
    """A readable repository whose files need an accepted access request (401 for anonymous callers)."""

    status = 403
    code = "GatedRepo"


class NotFound(HubError):
    """Something other than a repository, revision or file is missing (a user, an access request)."""

    status = 404


class QuotaExceeded(PayloadTooLarge):
    """The upload does not fit in the storage quota of the repository's user or organisation."""
