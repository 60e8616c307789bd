"""Admin for repositories and their history. Commits, trees and blobs are immutable: view only.

Every foreign key is a raw id or an autocomplete, every changelist selects its related rows and
sorts on an indexed column, and big tables have no date hierarchy (a DISTINCT over every row), so
pages stay fast with hundreds of thousands of rows.
"""

from __future__ import annotations

from django.contrib import admin
from django.template.defaultfilters import filesizeformat

from models_hub.models import (
    AccessRequest,
    Blob,
    Commit,
    DatasetValidation,
    Like,
    Ref,
    RepoRedirect,
    Repository,
    RepoTag,
    TreeEntry,
    UploadSession,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class RepoTagInline(admin.TabularInline):
    model = RepoTag
    extra = 0


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    list_display = ["repo_id", "kind", "private", "gated", "downloads", "likes_count", "updated_at"]
    list_filter = ["kind", "private", "gated", "license", "pipeline_tag", "library_name", "has_unsafe_files"]
    search_fields = ["namespace", "name", "summary"]
    autocomplete_fields = ["owner", "organization"]
    readonly_fields = ["created_at", "updated_at", "card_data", "search_text", "has_unsafe_files", "parameter_count"]
    fieldsets = [
        (None, {"fields": ["kind", "namespace", "name", "owner", "organization", "private", "gated"]}),
        ("Counters", {"fields": ["downloads", "likes_count"]}),
        (
            "Card (indexed from README.md at each commit)",
            {"fields": ["summary", "license", "pipeline_tag", "library_name", "card_data", "search_text"]},
        ),
        ("Analysis", {"fields": ["has_unsafe_files", "parameter_count", "created_at", "updated_at"]}),
    ]
    inlines = [RepoTagInline]
    show_full_result_count = False

    @admin.display(description="repository", ordering="namespace")
    def repo_id(self, obj: Repository) -> str:
        return obj.repo_id


@admin.register(Commit)
class CommitAdmin(ReadOnlyAdmin):
    list_display = ["oid", "repository", "author", "title", "created_at"]
    list_select_related = ["repository", "author"]
    search_fields = ["=oid", "title", "repository__namespace", "repository__name"]
    raw_id_fields = ["repository", "parent", "author"]
    ordering = ["-id"]
    fields = ["oid", "repository", "parent", "author", "title", "description", "created_at"]
    show_full_result_count = False


@admin.register(TreeEntry)
class TreeEntryAdmin(ReadOnlyAdmin):
    list_display = ["path", "commit", "repository", "blob_id", "size"]
    list_select_related = ["commit__repository", "blob"]
    search_fields = ["path", "=commit__oid", "=blob__sha256"]
    raw_id_fields = ["commit", "blob"]
    fields = ["commit", "path", "blob"]
    ordering = ["-id"]  # the model orders by path, which has no index of its own
    show_full_result_count = False

    @admin.display(description="repository")
    def repository(self, obj: TreeEntry) -> str:
        return obj.commit.repository.repo_id

    @admin.display(description="size")
    def size(self, obj: TreeEntry) -> str:
        return filesizeformat(obj.blob.size)


@admin.register(Ref)
class RefAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "repository", "commit", "updated_at"]
    list_filter = ["kind"]
    list_select_related = ["repository", "commit"]
    search_fields = ["name", "repository__namespace", "repository__name"]
    raw_id_fields = ["repository", "commit"]
    readonly_fields = ["updated_at"]
    ordering = ["-id"]
    show_full_result_count = False


@admin.register(Blob)
class BlobAdmin(ReadOnlyAdmin):
    list_display = ["sha256", "human_size", "git_oid", "is_pickle", "created_at"]
    list_filter = ["is_pickle"]
    search_fields = ["=sha256", "=git_oid"]
    fields = ["sha256", "size", "git_oid", "is_pickle", "created_at"]
    show_full_result_count = False

    @admin.display(description="size", ordering="size")
    def human_size(self, obj: Blob) -> str:
        return filesizeformat(obj.size)


@admin.register(RepoTag)
class RepoTagAdmin(admin.ModelAdmin):
    list_display = ["name", "repository"]
    list_select_related = ["repository"]
    search_fields = ["name", "repository__namespace", "repository__name"]
    raw_id_fields = ["repository"]


@admin.register(Like)
class LikeAdmin(admin.ModelAdmin):
    list_display = ["user", "repository", "created_at"]
    list_select_related = ["user", "repository"]
    search_fields = ["user__username", "repository__namespace", "repository__name"]
    raw_id_fields = ["user", "repository"]
    readonly_fields = ["created_at"]
    ordering = ["-id"]
    show_full_result_count = False


@admin.register(RepoRedirect)
class RepoRedirectAdmin(admin.ModelAdmin):
    list_display = ["old_id", "kind", "repository"]
    list_filter = ["kind"]
    list_select_related = ["repository"]
    search_fields = ["namespace", "name", "repository__namespace", "repository__name"]
    raw_id_fields = ["repository"]

    @admin.display(description="old id", ordering="namespace")
    def old_id(self, obj: RepoRedirect) -> str:
        return f"{obj.namespace}/{obj.name}"


@admin.register(UploadSession)
class UploadSessionAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "repository", "path", "progress", "created_at", "updated_at"]
    list_select_related = ["user", "repository"]
    search_fields = ["=id", "path", "user__username", "repository__namespace", "repository__name"]
    raw_id_fields = ["user", "repository", "blob"]
    ordering = ["-created_at"]
    readonly_fields = ["id", "offset", "created_at", "updated_at"]

    @admin.display(description="uploaded")
    def progress(self, obj: UploadSession) -> str:
        return f"{filesizeformat(obj.offset)} / {filesizeformat(obj.size)}"


@admin.register(AccessRequest)
class AccessRequestAdmin(admin.ModelAdmin):
    list_display = ["repository", "user", "status", "created_at", "updated_at"]
    list_filter = ["status"]
    list_select_related = ["repository", "user"]
    search_fields = ["user__username", "repository__namespace", "repository__name"]
    raw_id_fields = ["repository", "user", "decided_by"]
    show_full_result_count = False


@admin.register(DatasetValidation)
class DatasetValidationAdmin(ReadOnlyAdmin):
    list_display = ["commit", "repository", "status", "problem_count", "created_at", "finished_at", "attempts"]
    list_filter = ["status"]
    list_select_related = ["commit__repository"]
    raw_id_fields = ["commit"]
    readonly_fields = ["commit", "status", "report", "bytes_total", "bytes_done", "attempts", "created_at", "started_at",
                       "heartbeat_at", "finished_at"]  # fmt: skip
    actions = ["validate_again"]
    show_full_result_count = False

    @admin.display(description="Repository")
    def repository(self, validation: DatasetValidation) -> str:
        return validation.commit.repository.repo_id

    @admin.display(description="Problems")
    def problem_count(self, validation: DatasetValidation) -> int | None:
        return validation.report.get("problem_count") if validation.is_finished else None

    @admin.action(description="Validate again (after the validator changed)")
    def validate_again(self, request, queryset) -> None:
        from models_hub.services.dataset_validation import dataset_validations_restart

        queued = dataset_validations_restart(validation_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{queued} validation{'s' if queued != 1 else ''} queued again.")
