"""Admin for feedback: ratings with filters by model, rater, date and score; the tag list; hidden raters."""

from __future__ import annotations

from django.contrib import admin, messages

from feedback import services
from feedback.models import HiddenRater, Rating, RatingTag


@admin.register(RatingTag)
class RatingTagAdmin(admin.ModelAdmin):
    list_display = ("label", "slug", "negative", "position", "active")
    list_editable = ("position", "active")
    prepopulated_fields = {"slug": ("label",)}


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ("updated_at", "model", "short_commit", "user", "thumb", "stars", "by_maintainer")
    list_filter = ("thumb", "stars", "by_maintainer", "updated_at", "generation__repository")
    search_fields = ("user__username", "generation__repository__name", "generation__commit__oid", "comment")
    list_select_related = ("user", "generation__repository", "generation__commit")
    raw_id_fields = ("generation", "user")
    date_hierarchy = "updated_at"
    actions = ["hide_raters"]

    @admin.display(description="model")
    def model(self, rating: Rating) -> str:
        return rating.generation.repository.repo_id

    @admin.display(description="commit")
    def short_commit(self, rating: Rating) -> str:
        return rating.generation.commit.oid[:10]

    @admin.action(description="Hide the raters of the selected ratings (spam)")
    def hide_raters(self, request, queryset) -> None:
        users = {rating.user for rating in queryset.select_related("user")}
        for user in users:
            services.rater_hide(user=user, staff=request.user, reason="hidden from the ratings list")
        self.message_user(
            request, f"Hid {len(users)} rater(s); their ratings are kept but no longer counted.", messages.SUCCESS
        )


@admin.register(HiddenRater)
class HiddenRaterAdmin(admin.ModelAdmin):
    list_display = ("user", "hidden_by", "reason", "created_at")
    raw_id_fields = ("user", "hidden_by")
