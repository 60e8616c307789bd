"""Admin for the arena: battles and votes, pinned pairs (open their battles here), voters the sequential test
flagged (exclude or clear them: the leaderboard refits), and the cached leaderboard (refit on demand)."""

from __future__ import annotations

from django.contrib import admin, messages

from feedback.arena import services
from feedback.arena.models import ArenaPin, Battle, BattleVote, LeaderboardEntry, LeaderboardFit, VoterReview
from models_hub.errors import HubError


class VoteInline(admin.TabularInline):
    model = BattleVote
    extra = 0
    raw_id_fields = ("user",)
    readonly_fields = ("created_at",)


@admin.register(Battle)
class BattleAdmin(admin.ModelAdmin):
    list_display = ("created_at", "status", "side_a", "side_b", "pin", "created_by", "vote_count")
    list_filter = ("status", "created_at", "pin")
    search_fields = ("prompt", "repository_a__name", "repository_b__name", "commit_a__oid", "commit_b__oid")
    list_select_related = ("repository_a", "repository_b", "commit_a", "commit_b", "pin", "created_by")
    raw_id_fields = (
        "created_by",
        "generation_a",
        "generation_b",
        "repository_a",
        "commit_a",
        "repository_b",
        "commit_b",
        "source_prompt",
        "pin",
    )
    readonly_fields = ("prompt_hash", "created_at")
    date_hierarchy = "created_at"
    inlines = [VoteInline]

    @admin.display(description="A")
    def side_a(self, battle: Battle) -> str:
        return f"{battle.repository_a.repo_id}@{battle.commit_a.short_oid}"

    @admin.display(description="B")
    def side_b(self, battle: Battle) -> str:
        return f"{battle.repository_b.repo_id}@{battle.commit_b.short_oid}"

    @admin.display(description="votes")
    def vote_count(self, battle: Battle) -> int:
        return battle.votes.count()


@admin.register(BattleVote)
class BattleVoteAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "winner", "by_member", "battle")
    list_filter = ("winner", "by_member", "created_at")
    search_fields = ("user__username",)
    raw_id_fields = ("battle", "user")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    actions = ["exclude_voters"]

    @admin.action(description="Exclude the voters of the selected votes from the leaderboard")
    def exclude_voters(self, request, queryset) -> None:
        users = {vote.user for vote in queryset.select_related("user")}
        for user in users:
            services.voter_exclude(user=user, staff=request.user, reason="excluded from the votes list")
        self.message_user(request, f"Excluded {len(users)} voter(s); the leaderboard refits without them.")


@admin.register(ArenaPin)
class ArenaPinAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "active",
        "repository_a",
        "commit_a",
        "repository_b",
        "commit_b",
        "prompt_set",
        "created_at",
    )
    list_filter = ("active",)
    raw_id_fields = ("repository_a", "commit_a", "repository_b", "commit_b", "prompt_set", "created_by")
    readonly_fields = ("created_at",)
    actions = ["open_battles"]

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user
            from django.utils import timezone

            obj.created_at = timezone.now()
        super().save_model(request, obj, form, change)

    @admin.action(description="Open battles on the prompts of the selected pins")
    def open_battles(self, request, queryset) -> None:
        opened = 0
        for pin in queryset:
            try:
                opened += len(services.pin_open_battles(pin=pin))
            except HubError as exc:
                self.message_user(request, f"{pin.name}: {exc.message}", messages.ERROR)
        self.message_user(request, f"Opened {opened} battle(s); their outputs are being generated.")


@admin.register(VoterReview)
class VoterReviewAdmin(admin.ModelAdmin):
    list_display = (
        "user",
        "status",
        "log_likelihood_ratio",
        "votes_tested",
        "agreement",
        "expected_agreement",
        "flagged_at",
        "reviewed_by",
    )
    list_filter = ("status",)
    search_fields = ("user__username",)
    raw_id_fields = ("user", "reviewed_by")
    actions = ["exclude_selected", "clear_selected"]

    @admin.action(description="Exclude the selected voters (the leaderboard refits without them)")
    def exclude_selected(self, request, queryset) -> None:
        for review in queryset.select_related("user"):
            services.voter_exclude(user=review.user, staff=request.user, reason="excluded after review")
        self.message_user(request, "Excluded; the leaderboard refits without them.")

    @admin.action(description="Clear the selected voters (count their votes)")
    def clear_selected(self, request, queryset) -> None:
        for review in queryset.select_related("user"):
            services.voter_clear(user=review.user, staff=request.user, reason="cleared after review")
        self.message_user(request, "Cleared; their votes count.")


class EntryInline(admin.TabularInline):
    model = LeaderboardEntry
    extra = 0
    can_delete = False
    readonly_fields = ("repository", "commit", "rating", "ci_low", "ci_high", "rank", "battles")
    fields = readonly_fields
    ordering = ("-rating",)


@admin.register(LeaderboardFit)
class LeaderboardFitAdmin(admin.ModelAdmin):
    list_display = ("__str__", "computed_at", "votes", "votes_left_out", "rounds", "seconds")
    readonly_fields = ("scope", "computed_at", "votes", "votes_left_out", "rounds", "seconds")
    inlines = [EntryInline]
    actions = ["refit"]

    @admin.action(description="Refit the leaderboard now")
    def refit(self, request, queryset) -> None:
        from feedback.arena.tasks import leaderboard_refit

        leaderboard_refit.delay()
        self.message_user(request, "Refit queued.")
