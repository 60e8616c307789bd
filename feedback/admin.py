"""Admin for feedback: ratings with filters by model, rater, date and score; the tag list; hidden raters;
prompt sets (uploaded here too) and rating campaigns (started here too, with their progress)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from feedback import selectors, services
from feedback.models import HiddenRater, Prompt, PromptSet, Rating, RatingCampaign, RatingTag
from models_hub.errors import HubError


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


class PromptSetUploadForm(forms.ModelForm):
    file = forms.FileField(
        help_text='JSONL (one {"prompt": ..., "system": ...} object a line) or CSV with a \'prompt\' column.'
    )

    class Meta:
        model = PromptSet
        fields = ("name",)

    def __init__(self, *args, request=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].required = False
        self.request = request

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("file")
        if upload is None:
            return cleaned
        try:
            self.prompt_set = services.prompt_set_create(
                user=self.request.user,
                repo=None,
                name=cleaned.get("name") or "",
                data=read_upload(upload),
                filename=upload.name,
            )
        except services.PromptSetRejected as exc:
            listed = [str(e) for e in exc.errors] or [exc.message]
            raise forms.ValidationError(
                [f"{exc.error_count:,} line(s) rejected; nothing was created.", *listed]
            ) from None
        except HubError as exc:
            raise forms.ValidationError(exc.message) from None
        return cleaned


def read_upload(upload) -> bytes:
    """An uploaded file's bytes, never more than the prompt-set cap plus one (enough to say it is too big)."""
    return upload.read(settings.FLYWHEEL_PROMPT_SET_MAX_BYTES + 1)


@admin.register(PromptSet)
class PromptSetAdmin(admin.ModelAdmin):
    list_display = ("name", "prompt_count", "source_name", "source_dataset", "created_by", "created_at")
    search_fields = ("name", "source_name", "created_by__username")
    list_select_related = ("created_by", "source_dataset")
    readonly_fields = (
        "prompt_list",
        "prompt_count",
        "source_name",
        "source_dataset",
        "source_commit",
        "created_by",
        "created_at",
    )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)
        form = PromptSetUploadForm

        class WithRequest(form):
            def __init__(self, *args, **inner) -> None:
                super().__init__(*args, request=request, **inner)

        return WithRequest

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ("name", "file")})]
        return super().get_fieldsets(request, obj)

    @admin.display(description="prompts")
    def prompt_list(self, prompt_set: PromptSet) -> str:
        # A link rather than an inline: a set may hold 10,000 prompts.
        url = reverse("admin:feedback_prompt_changelist") + f"?prompt_set__id__exact={prompt_set.pk}"
        return format_html('<a href="{}">View the {} prompts</a>', url, prompt_set.prompt_count)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # The service created the set (and its prompts) while validating the upload: adopt that row.
        obj.pk = form.prompt_set.pk
        obj.refresh_from_db()


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ("prompt_set", "position", "short_text")
    list_filter = ("prompt_set",)
    search_fields = ("text",)
    list_select_related = ("prompt_set",)
    readonly_fields = ("prompt_set", "position", "line")

    @admin.display(description="prompt")
    def short_text(self, prompt: Prompt) -> str:
        return prompt.text[:80]

    def has_add_permission(self, request) -> bool:
        return False


class CampaignStartForm(forms.ModelForm):
    revision_names = forms.CharField(
        label="Revisions", help_text="Branches, tags or commit ids, separated by commas (e.g. v0.1, main)."
    )

    class Meta:
        model = RatingCampaign
        fields = (
            "name",
            "repository",
            "prompt_set",
            "revision_names",
            "raters_needed",
            "max_new_tokens",
            "temperature",
            "top_p",
            "top_k",
            "repetition_penalty",
            "seed",
        )

    def __init__(self, *args, request=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.fields["name"].required = False
        defaults = {"max_new_tokens": 64, "temperature": 0.8, "top_p": 1.0, "top_k": 0, "repetition_penalty": 1.0}
        for field, value in defaults.items():
            self.fields[field].initial = value
        self.fields["seed"].initial = 0

    def revisions(self) -> list[str]:
        return [r.strip() for r in self.cleaned_data.get("revision_names", "").split(",") if r.strip()]

    def params(self) -> dict:
        names = ("max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "seed")
        return {name: self.cleaned_data.get(name) for name in names}

    def clean(self):
        cleaned = super().clean()
        if self.errors or cleaned.get("repository") is None:
            return cleaned
        try:
            services.campaign_plan(
                user=self.request.user,
                repo=cleaned["repository"],
                revisions=self.revisions(),
                params=self.params(),
                raters_needed=cleaned.get("raters_needed") or 0,
            )
        except HubError as exc:
            raise forms.ValidationError(exc.message) from None
        return cleaned


@admin.register(RatingCampaign)
class RatingCampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "repository", "revision_list", "raters_needed", "shown_status", "progress", "created_at")
    list_filter = ("status", "repository")
    search_fields = ("name", "repository__name", "prompt_set__name")
    list_select_related = ("repository", "prompt_set")
    raw_id_fields = ("repository", "prompt_set")
    actions = ["generate_again"]
    readonly_fields = (
        "repository",
        "prompt_set",
        "revisions",
        "status",
        "error",
        "total",
        "progress",
        "max_new_tokens",
        "temperature",
        "top_p",
        "top_k",
        "repetition_penalty",
        "seed",
        "created_by",
        "created_at",
    )
    exclude = ("commits",)

    def get_queryset(self, request):
        return selectors.with_progress_counts(super().get_queryset(request))

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)

        class WithRequest(CampaignStartForm):
            def __init__(self, *args, **inner) -> None:
                super().__init__(*args, request=request, **inner)

        return WithRequest

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": CampaignStartForm.Meta.fields})]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        campaign = services.campaign_start(
            user=request.user,
            repo=form.cleaned_data["repository"],
            prompt_set=form.cleaned_data["prompt_set"],
            revisions=form.revisions(),
            params=form.params(),
            raters_needed=form.cleaned_data["raters_needed"],
            name=form.cleaned_data.get("name") or "",
        )
        obj.pk = campaign.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change) -> None:
        if change:
            super().save_related(request, form, formsets, change)

    @admin.display(description="revisions")
    def revision_list(self, campaign: RatingCampaign) -> str:
        return ", ".join(f"{r['revision']} ({r['commit'][:7]})" for r in campaign.revisions)

    @admin.display(description="status")
    def shown_status(self, campaign: RatingCampaign) -> str:
        return selectors.campaign_status(campaign, selectors.progress_of(campaign))

    @admin.display(description="progress")
    def progress(self, campaign: RatingCampaign) -> str:
        progress = selectors.progress_of(campaign)
        failed = f", {progress.failed} failed" if progress.failed else ""
        return f"{progress.finished}/{progress.total} ({progress.percent} %){failed}"

    @admin.action(description="Create missing outputs and send queued ones to the worker again")
    def generate_again(self, request, queryset) -> None:
        from feedback.tasks import campaign_generate

        ids = list(queryset.values_list("pk", flat=True))
        for pk in ids:
            campaign_generate.delay(pk)
        self.message_user(request, f"Sent {len(ids)} campaign(s) to the worker.", messages.SUCCESS)


from feedback.arena import admin as arena_admin  # noqa: E402, F401 - registers the arena's models
from feedback.snapshots import admin as snapshot_admin  # noqa: E402,F401  (registers FeedbackSnapshotAdmin)
