"""The checks every upload path makes, each written once.

`commit_create` makes them all, under the branch lock, whatever surface called it. The surfaces call
the same functions earlier too (before a body is read, or before received bytes are stored), so a
refusal costs no upload and leaves nothing behind, and every surface refuses with the same words.
"""

from __future__ import annotations

from typing import IO

from models_hub.errors import BadRequest, InvalidRepoPath, PreconditionFailed
from models_hub.models import Blob
from models_hub.paths import InvalidPath, normalize_folder_path, normalize_repo_path
from models_hub.storage.blobs import blob_open
from models_hub.storage.safetensors_check import InvalidSafetensors, read_safetensors_header


def clean_path(raw: str) -> str:
    """The canonical form of a file path inside a repository, or InvalidRepoPath saying why it is refused."""
    try:
        return normalize_repo_path(raw)
    except InvalidPath as exc:
        raise InvalidRepoPath(f"Invalid path {raw!r}: {exc}") from None


def clean_folder_path(raw: str) -> str:
    """A folder path, with an optional trailing '/'; InvalidRepoPath like clean_path."""
    try:
        return normalize_folder_path(raw)
    except InvalidPath as exc:
        raise InvalidRepoPath(f"Invalid path {raw!r}: {exc}") from None


def check_parent(*, head_oid: str, parent_oid: str | None, branch: str) -> None:
    """PreconditionFailed unless `parent_oid` (a commit id or a prefix of at least 4 of its digits) is the
    head of `branch`; no parent means "whatever the head is"."""
    if not parent_oid:
        return
    parent = parent_oid.lower()
    if len(parent) < 4 or not head_oid.startswith(parent):
        raise PreconditionFailed(
            f"A commit has happened since {parent[:7]}: the head of {branch} is now {head_oid[:7]}. "
            "Please refresh and try again."
        )


def _checked_by_content(path: str) -> bool:
    return path.lower().endswith(".safetensors")


def check_content(path: str, handle: IO[bytes], size: int) -> None:
    """BadRequest if a file's bytes cannot be what its name says: a .safetensors file needs a header that
    describes exactly the tensors it holds."""
    if not _checked_by_content(path):
        return
    try:
        read_safetensors_header(handle, size)
    except InvalidSafetensors as exc:
        raise BadRequest(f"{path} is not a valid safetensors file: {exc}") from None


def check_received_file(path: str, temp_path: str, size: int) -> None:
    """check_content for bytes received into a temporary file, before they are stored."""
    if _checked_by_content(path):
        with open(temp_path, "rb") as handle:
            check_content(path, handle, size)


def check_blob(path: str, blob: Blob) -> None:
    """check_content for a stored blob."""
    if _checked_by_content(path):
        with blob_open(blob) as handle:
            check_content(path, handle, blob.size)
