"""The snapshot form of the staff page and the admin: every filter, with the defaults of "a day of ratings"."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone

from feedback.models import RatingTag
from feedback.snapshots.filters import BOOLEAN_FIELDS, MAX_VALIDATION_FRACTION

HELP = {
    "exclude_hidden_raters": "Leave out raters staff hid as spam.",
    "include_maintainers": "Ratings the model's own maintainers gave.",
    "include_liked": "Outputs raters liked (sft, and kto as desirable).",
    "include_corrections": "Better answers raters wrote (sft, kto, and preference against the output).",
    "include_pairs": "Thumbs up against thumbs down on the same prompt, as preference pairs.",
    "include_battles": "Battle outcomes as preference pairs, once battles exist.",
}


class SnapshotForm(forms.Form):
    dataset = forms.CharField(max_length=200, help_text="owner/name: created if missing, or a new commit on it.")
    private = forms.BooleanField(required=False, initial=True, help_text="For a dataset created now.")
    revisions = forms.MultipleChoiceField(
        choices=(), required=False, widget=forms.CheckboxSelectMultiple, help_text="None chosen: every revision."
    )
    other_revisions = forms.CharField(max_length=2000, required=False, help_text="Commit ids, separated by commas.")
    since = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Ratings last changed at or after (UTC).",
    )  # fmt: skip
    until = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="…and before (UTC). Empty: up to the build.",
    )  # fmt: skip
    thumbs = forms.ChoiceField(
        choices=[("any", "Thumbs up and down"), ("up", "Thumbs up only")], initial="any", widget=forms.RadioSelect
    )
    min_stars = forms.IntegerField(min_value=1, max_value=5, required=False, help_text="Only ratings with as many.")
    exclude_tags = forms.MultipleChoiceField(
        choices=(), required=False, widget=forms.CheckboxSelectMultiple, help_text="Outputs tagged so are left out."
    )
    min_agreement = forms.FloatField(
        min_value=0, max_value=1, required=False, help_text="e.g. 0.66: outputs raters disagree on are left out."
    )
    validation_fraction = forms.FloatField(min_value=0, max_value=MAX_VALIDATION_FRACTION, initial=0.1)

    def __init__(self, *args, revision_names: list[str] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["revisions"].choices = [(name, name) for name in revision_names]
        tags = RatingTag.objects.all()
        self.fields["exclude_tags"].choices = [(t.slug, t.label) for t in tags]
        for name in BOOLEAN_FIELDS:
            self.fields[name] = forms.BooleanField(required=False, initial=True, help_text=HELP[name])

    @classmethod
    def defaults(cls, *, dataset: str) -> dict[str, Any]:
        """A day of ratings: the last 24 hours, any thumbs, corrections in, a tenth for validation."""
        since = (timezone.now() - timedelta(hours=24)).replace(second=0, microsecond=0)
        initial = {"dataset": dataset, "since": since, "thumbs": "any", "validation_fraction": 0.1, "private": True}
        return initial | {name: True for name in BOOLEAN_FIELDS}

    def filters(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        other = [r.strip() for r in (data.pop("other_revisions") or "").split(",") if r.strip()]
        data["revisions"] = [*data.get("revisions", []), *other]
        data.pop("dataset")
        data.pop("private")
        return data
