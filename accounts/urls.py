from __future__ import annotations

from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("settings", views.settings_index, name="settings"),
    path("settings/profile", views.settings_profile, name="settings-profile"),
    path("settings/tokens", views.tokens, name="tokens"),
    path("settings/tokens/created", views.token_created, name="token-created"),
    path("settings/tokens/<int:token_id>/revoke", views.token_revoke, name="token-revoke"),
    path("settings/organizations", views.settings_organizations, name="settings-orgs"),
    path("organizations/new", views.organization_new, name="org-new"),
    path("organizations/<str:name>/settings", views.organization_settings, name="org-settings"),
    path(
        "organizations/<str:name>/members/<str:username>/role",
        views.organization_member_role,
        name="org-member-role",
    ),
    path(
        "organizations/<str:name>/members/<str:username>/remove",
        views.organization_member_remove,
        name="org-member-remove",
    ),
]
