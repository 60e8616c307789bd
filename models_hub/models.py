from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse

from accounts.validators import validate_hub_name

if TYPE_CHECKING:
    from accounts.models import User


class Blob(models.Model):
    """Bytes stored once, addressed by their SHA-256, kept through Django's storage API."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    size = models.BigIntegerField()
    # git's blob id (sha1 of "blob <size>\0" + bytes), which Hub clients compare for small files.
    git_oid = models.CharField(max_length=40, blank=True, default="")
    # Pickle-based bytes can run code when loaded: stored, flagged, never loaded. Judged from the bytes
    # when they are stored (models_hub/storage/pickle_check.py); None for blobs stored before that.
    is_pickle = models.BooleanField(null=True, default=None)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.sha256

    @property
    def storage_key(self) -> str:
        return f"blobs/{self.sha256[:2]}/{self.sha256[2:4]}/{self.sha256}"


class RepositoryQuerySet(models.QuerySet):
    def visible_to(self, user: User | None) -> RepositoryQuerySet:
        """Public repositories, plus the private ones this user owns or whose organisation they belong to."""
        if user is None or not user.is_authenticated:
            return self.filter(private=False)
        if user.is_superuser:
            return self
        from accounts.models import Membership

        # A subquery rather than a join: no duplicate rows, so no DISTINCT over large listings.
        member_of = Membership.objects.filter(user=user).values("organization_id")
        return self.filter(Q(private=False) | Q(owner=user) | Q(organization_id__in=member_of))

    def downloadable_by(self, user: User | None) -> RepositoryQuerySet:
        """The visible repositories whose files `user` may download: open ones, plus gated ones they pass."""
        visible = self.visible_to(user)
        if user is None or not user.is_authenticated:
            return visible.filter(gated=Repository.Gate.OFF)
        if user.is_superuser:
            return visible
        from accounts.models import Membership

        member_of = Membership.objects.filter(user=user).values("organization_id")
        accepted = AccessRequest.objects.filter(user=user, status=AccessRequest.Status.ACCEPTED).values("repository_id")
        return visible.filter(
            Q(gated=Repository.Gate.OFF) | Q(owner=user) | Q(organization_id__in=member_of) | Q(pk__in=accepted)
        )

    def models(self) -> RepositoryQuerySet:
        return self.filter(kind=Repository.Kind.MODEL)

    def datasets(self) -> RepositoryQuerySet:
        return self.filter(kind=Repository.Kind.DATASET)


class Repository(models.Model):
    class Kind(models.TextChoices):
        MODEL = "model", "Model"
        DATASET = "dataset", "Dataset"

    class Gate(models.TextChoices):
        """Whether people outside the repository must ask before downloading its files."""

        OFF = "", "Open: anyone who can see it can download"
        AUTO = "auto", "Gated, approved automatically"
        MANUAL = "manual", "Gated, approved by the maintainers"

    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.MODEL)
    # The owner's name, denormalised: every URL and the uniqueness rule use it.
    namespace = models.CharField(max_length=96)
    name = models.CharField(max_length=96, validators=[validate_hub_name])
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="repositories"
    )
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="repositories"
    )
    private = models.BooleanField(default=False)
    gated = models.CharField(max_length=8, choices=Gate.choices, blank=True, default=Gate.OFF)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    downloads = models.BigIntegerField(default=0)
    likes_count = models.IntegerField(default=0)

    # Indexed from README.md's YAML front matter at every commit to main.
    card_data = models.JSONField(default=dict, blank=True)
    summary = models.CharField(max_length=300, blank=True)
    license = models.CharField(max_length=64, blank=True, db_index=True)
    pipeline_tag = models.CharField(max_length=64, blank=True, db_index=True)
    library_name = models.CharField(max_length=64, blank=True, db_index=True)
    search_text = models.TextField(blank=True)
    has_unsafe_files = models.BooleanField(default=False)
    parameter_count = models.BigIntegerField(null=True, blank=True)

    objects = RepositoryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "repositories"
        constraints = [
            models.UniqueConstraint(Lower("namespace"), Lower("name"), "kind", name="repository_id_unique"),
            models.CheckConstraint(
                condition=Q(owner__isnull=False, organization__isnull=True)
                | Q(owner__isnull=True, organization__isnull=False),
                name="repository_has_one_owner",
            ),
        ]
        indexes = [
            models.Index(fields=["kind", "namespace", "name"]),
            models.Index(fields=["kind", "private", "-downloads"]),
            models.Index(fields=["kind", "private", "-likes_count"]),
            models.Index(fields=["kind", "private", "-updated_at"]),
            # For signed-in listings: "public OR mine" cannot use the private column above, so
            # these let PostgreSQL walk the sort order and stop after one page instead of sorting.
            models.Index(fields=["kind", "-downloads", "-id"], name="repo_kind_downloads_idx"),
            models.Index(fields=["kind", "-likes_count", "-id"], name="repo_kind_likes_idx"),
            models.Index(fields=["kind", "-updated_at", "-id"], name="repo_kind_updated_idx"),
        ]

    def __str__(self) -> str:
        return self.repo_id

    @property
    def repo_id(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def url_prefix(self) -> str:
        """The path prefix the public hub uses: none for models, /datasets/ for datasets."""
        return "/datasets" if self.kind == self.Kind.DATASET else ""

    def get_absolute_url(self) -> str:
        return f"{self.url_prefix}/{self.namespace}/{self.name}"


class AccessRequest(models.Model):
    """A user's request to download a gated repository's files, and the maintainers' answer."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="access_requests")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_requests")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    rejection_reason = models.CharField(max_length=500, blank=True)
    # Who accepted, rejected or granted it; empty while pending and for automatic approvals.
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["repository", "user"], name="accessrequest_unique")]
        indexes = [models.Index(fields=["repository", "status", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.user_id} -> {self.repository_id}: {self.status}"


class RepoTag(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="tag_rows")
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repository", "name"], name="repotag_unique")]
        indexes = [
            models.Index(fields=["name"]),
            # Filtering listings by a common tag reads (name -> repositories) from the index alone.
            models.Index(fields=["name", "repository"], name="repotag_name_repo_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class Commit(models.Model):
    """An immutable snapshot of a repository. It exists only once all its blobs are stored."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="commits")
    oid = models.CharField(max_length=40, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["repository", "-created_at"])]

    def __str__(self) -> str:
        return self.oid[:7]

    @property
    def short_oid(self) -> str:
        return self.oid[:7]


class TreeEntry(models.Model):
    """One file of one commit. Every commit lists its whole tree, so reading a revision is one query."""

    commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="entries")
    path = models.CharField(max_length=1024)
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="tree_entries")

    class Meta:
        verbose_name_plural = "tree entries"
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["commit", "path"], name="treeentry_unique_path")]

    def __str__(self) -> str:
        return self.path

    @property
    def is_unsafe(self) -> bool:
        return bool(self.blob.is_pickle)


class RepositoryBlob(models.Model):
    """A blob that some commit of a repository refers to, once per repository and blob.

    Written with every commit (services.commits._write_commit), so that what a namespace stores (its
    storage quota's usage) is one aggregate over its distinct files, not a scan of every commit's tree.
    """

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="blob_refs")
    blob = models.ForeignKey(Blob, on_delete=models.CASCADE, related_name="repository_refs")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repository", "blob"], name="repositoryblob_unique")]

    def __str__(self) -> str:
        return f"{self.repository_id}: {self.blob_id}"


class Ref(models.Model):
    class Kind(models.TextChoices):
        BRANCH = "branch", "Branch"
        TAG = "tag", "Tag"

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="refs")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    name = models.CharField(max_length=255)
    commit = models.ForeignKey(Commit, on_delete=models.PROTECT, related_name="refs")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [models.UniqueConstraint(fields=["repository", "kind", "name"], name="ref_unique")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def full_name(self) -> str:
        return f"refs/heads/{self.name}" if self.kind == self.Kind.BRANCH else f"refs/tags/{self.name}"


class BlobUpload(models.Model):
    """Bytes a user sent to the Git LFS endpoint: proof they hold them, so they may commit them by hash.

    Blobs are shared by content, so knowing a sha256 must not be enough to put someone else's
    private or gated file into one's own repository.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blob_uploads")
    blob = models.ForeignKey(Blob, on_delete=models.CASCADE, related_name="uploads")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "blob"], name="blobupload_unique")]


class Like(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="likes")
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="likes")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "repository"], name="like_unique")]


class RepoRedirect(models.Model):
    """An old id of a renamed repository, answered with a redirect to the new one."""

    kind = models.CharField(max_length=8, choices=Repository.Kind.choices)
    namespace = models.CharField(max_length=96)
    name = models.CharField(max_length=96)
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="redirects")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "namespace", "name"], name="reporedirect_unique")]


class UploadSession(models.Model):
    """A resumable upload (tus protocol): bytes are appended to a temporary file until complete.

    Nothing here is visible in a repository until a commit refers to the finished upload.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="upload_sessions")
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="upload_sessions")
    path = models.CharField(max_length=1024)
    size = models.BigIntegerField()
    offset = models.BigIntegerField(default=0)
    # The SHA-256 of the first `offset` bytes, as a resumable hasher's saved state: the commit then
    # needs no second read of the file. Saved in the same update as `offset`.
    hash_state = models.BinaryField(null=True, blank=True, editable=False)
    # A part: bytes [start, start + size) of its parent's file, sent on a connection of their own
    # so that one big file travels over several at once (models_hub.storage.uploads.upload_part_create).
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="parts")
    start = models.BigIntegerField(default=0)
    blob = models.ForeignKey(Blob, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.path} ({self.offset}/{self.size})"

    @property
    def is_complete(self) -> bool:
        return self.offset >= self.size

    def get_absolute_url(self) -> str:
        return reverse("models_hub:upload-detail", kwargs={"upload_id": self.id})


class DataFileCheck(models.Model):
    """What validating one blob as one data file format found: rows, columns with statistics, problems,
    and a sparse row index for the viewer. Shared by content: a commit that keeps a file's bytes reuses it.
    """

    blob = models.ForeignKey(Blob, on_delete=models.CASCADE, related_name="data_file_checks")
    file_format = models.CharField(max_length=8)  # jsonl | csv | tsv | parquet
    validator_version = models.PositiveSmallIntegerField()
    result = models.JSONField(default=dict)
    # [[record, line, byte offset], ...]: where to start reading for a page (JSON Lines, CSV).
    row_index = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blob", "file_format", "validator_version"], name="datafilecheck_unique")
        ]

    def __str__(self) -> str:
        return f"{self.blob_id[:12]} as {self.file_format}"

    @property
    def is_valid(self) -> bool:
        return not self.result.get("problem_count")


class DatasetValidation(models.Model):
    """The validation of one commit of a dataset repository: queued by the commit, run by a Celery task."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        VALID = "valid", "Valid"
        INVALID = "invalid", "Invalid"

    commit = models.OneToOneField(Commit, on_delete=models.CASCADE, related_name="dataset_validation")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    # Configs with their splits (files, rows, columns, statistics, formats), files, problems: see
    # models_hub.services.dataset_validation.
    report = models.JSONField(default=dict, blank=True)
    bytes_total = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"{self.commit_id}: {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.VALID, self.Status.INVALID)
