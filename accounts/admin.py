"""Admin for accounts: users, organisations with their members, and API tokens (never their secrets)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.template.defaultfilters import pluralize
from django.utils import timezone

from accounts.models import ApiToken, Membership, Organization, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "full_name", "is_staff", "is_active", "date_joined", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    search_fields = ["username", "email", "full_name"]
    ordering = ["-id"]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        ("Profile", {"fields": ["full_name", "email", "bio"]}),
        ("Storage", {"fields": ["storage_quota_bytes"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    readonly_fields = ["last_login", "date_joined"]


class MembershipInline(admin.TabularInline):
    """Roles can be changed and members removed here; new members are added on the Membership page.

    A read-only user column costs no query per row (an autocomplete or raw-id widget costs one each).
    """

    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = ["user", "created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "organization")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "full_name", "member_count", "created_at"]
    search_fields = ["name", "full_name"]
    readonly_fields = ["created_at"]
    fields = ["name", "full_name", "description", "storage_quota_bytes", "created_at"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        # A correlated subquery is evaluated for the shown page only; a JOIN + GROUP BY would count every row.
        members = Membership.objects.filter(organization=OuterRef("pk")).values("organization")
        count = Subquery(members.annotate(n=Count("*")).values("n")[:1])
        return super().get_queryset(request).annotate(member_count=Coalesce(count, 0))

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj: Organization) -> int:
        return obj.member_count


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["organization", "user", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["organization__name", "user__username"]
    autocomplete_fields = ["organization", "user"]
    list_select_related = ["organization", "user"]
    readonly_fields = ["created_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created by their owner (settings page, API, `create_token`); here they can only be revoked."""

    list_display = ["name", "user", "scope", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    ordering = ["-id"]  # creation order through the primary key index; created_at has no index
    show_full_result_count = False
    # key_hash is left out entirely: it is never shown and never editable.
    fields = ["user", "name", "scope", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["user", "scope", "prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} token{pluralize(count)} revoked.", messages.SUCCESS)
