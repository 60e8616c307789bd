"""Storage quotas of users and organisations, and the one check every upload path makes.

What a namespace uses is the total size of the distinct files (by content) in the history of its
repositories, private and public: the bytes stored for it. Bytes already stored for the namespace
cost nothing again (a retried upload, the same file in two of its repositories); a commit that
deletes a file frees nothing, since the history keeps it; deleting a repository frees what only it
used. An open resumable upload reserves its declared size until it is committed or expires.

The limit is the account's own figure (set in the admin) or the default of its kind
(FLYWHEEL_USER_QUOTA_BYTES, FLYWHEEL_ORG_QUOTA_BYTES).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet, Sum
from django.template.defaultfilters import filesizeformat

from accounts.models import Organization, User
from models_hub.errors import QuotaExceeded
from models_hub.models import Blob, Repository, RepositoryBlob, UploadSession

Account = User | Organization


@dataclass(frozen=True)
class StorageUsage:
    namespace: str
    limit: int
    used: int  # bytes of the files in the namespace's history
    reserved: int  # bytes announced by resumable uploads still open

    @property
    def room(self) -> int:
        return max(0, self.limit - self.used - self.reserved)

    @property
    def percent(self) -> int:
        """How full, rounded down (a page shows 100 only when nothing fits any more)."""
        return 100 if self.limit <= 0 else min(100, (self.used + self.reserved) * 100 // self.limit)

    def describe(self) -> str:
        text = f"{human_size(self.used)} used of {human_size(self.limit)}"
        if self.reserved:
            text += f" ({human_size(self.reserved)} more reserved by uploads in progress)"
        return text


def human_size(size: int) -> str:
    return filesizeformat(size).replace("\xa0", " ")


def quota_limit(account: Account) -> int:
    if account.storage_quota_bytes is not None:
        return account.storage_quota_bytes
    if isinstance(account, Organization):
        return settings.FLYWHEEL_ORG_QUOTA_BYTES
    return settings.FLYWHEEL_USER_QUOTA_BYTES


def _repositories(*, owner_id: int | None, organization_id: int | None) -> QuerySet[Repository]:
    if organization_id is not None:
        return Repository.objects.filter(organization_id=organization_id)
    return Repository.objects.filter(owner_id=owner_id)


def storage_usage(account: Account) -> StorageUsage:
    """What the account's repositories store and reserve, against its limit (two aggregate queries)."""
    is_org = isinstance(account, Organization)
    repos = _repositories(owner_id=None if is_org else account.pk, organization_id=account.pk if is_org else None)
    stored = RepositoryBlob.objects.filter(repository__in=repos).values("blob_id")
    used = Blob.objects.filter(sha256__in=stored).aggregate(total=Sum("size"))["total"] or 0
    # Parts of an upload are counted by their parent, which holds the whole file's size.
    open_uploads = UploadSession.objects.filter(repository__in=repos, blob__isnull=True, parent=None)
    reserved = open_uploads.aggregate(total=Sum("size"))["total"] or 0
    name = account.name if is_org else account.username
    return StorageUsage(namespace=name, limit=quota_limit(account), used=used, reserved=reserved)


def quota_check(*, repo: Repository, files: Iterable[tuple[str | None, int]], lock: bool = False) -> None:
    """QuotaExceeded (413) unless these files fit in the room left to the namespace of `repo`.

    `files`: (sha256, size) of each file, sha256 None when it is not known yet (counted as new).
    With `lock`, inside a transaction, the account's row is locked so that concurrent commits to
    the namespace are checked one after the other.
    """
    _check(owner_id=repo.owner_id, organization_id=repo.organization_id, files=files, lock=lock, action="this upload")


def quota_check_move(*, repo: Repository, owner: User | None, organization: Organization | None) -> None:
    """QuotaExceeded unless what `repo` stores fits in the namespace it moves to; call inside a transaction."""
    owner_id, organization_id = (owner.pk if owner else None), (organization.pk if organization else None)
    if (owner_id, organization_id) == (repo.owner_id, repo.organization_id):
        return  # a rename: nothing changes hands
    files = RepositoryBlob.objects.filter(repository=repo).values_list("blob_id", "blob__size")
    _check(
        owner_id=owner_id,
        organization_id=organization_id,
        files=files.iterator(),
        lock=True,
        action=f"moving {repo.repo_id} there",
    )


def _check(
    *,
    owner_id: int | None,
    organization_id: int | None,
    files: Iterable[tuple[str | None, int]],
    lock: bool,
    action: str,
) -> None:
    sizes: dict[str, int] = {}
    unknown = 0
    for sha256, size in files:
        if sha256 is None:
            unknown += size
        else:
            sizes[sha256] = size
    repos = _repositories(owner_id=owner_id, organization_id=organization_id)
    known = sorted(sizes)
    for start in range(0, len(known), 1000):  # a bounded number of query parameters
        stored = RepositoryBlob.objects.filter(repository__in=repos, blob_id__in=known[start : start + 1000])
        for sha256 in stored.values_list("blob_id", flat=True):
            sizes.pop(sha256, None)
    needed = unknown + sum(sizes.values())
    if needed <= 0:
        return  # deleting or re-adding stored bytes is always allowed, even over the quota
    model, pk = (Organization, organization_id) if organization_id is not None else (User, owner_id)
    account = (model.objects.select_for_update() if lock else model.objects).get(pk=pk)
    usage = storage_usage(account)
    if needed > usage.room:
        raise QuotaExceeded(
            f"Storage quota exceeded for {usage.namespace}: {usage.describe()}; {action} needs {human_size(needed)}."
        )
