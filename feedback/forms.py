"""Forms for the rating queue's pages: start a campaign, rate an output."""

from __future__ import annotations

from django import forms

from feedback.models import PromptSet


class CampaignForm(forms.Form):
    """A campaign and where its prompts come from: an uploaded file, a dataset's file, or an earlier set."""

    name = forms.CharField(max_length=100, required=False, help_text="Defaults to the prompt set and revisions.")
    file = forms.FileField(
        required=False,
        label="Upload prompts",
        help_text='JSONL, one {"prompt": "...", "system": "...", "reference": "..."} object a line, or CSV with a '
        "'prompt' column (and optional 'system', 'reference').",
    )
    dataset = forms.CharField(max_length=200, required=False, label="…or a dataset", help_text="owner/name")
    dataset_revision = forms.CharField(max_length=255, required=False, initial="main", label="Dataset revision")
    dataset_path = forms.CharField(max_length=1000, required=False, label="File", help_text="e.g. prompts.jsonl")
    prompt_set = forms.ModelChoiceField(
        queryset=PromptSet.objects.none(), required=False, label="…or a prompt set uploaded before"
    )
    revisions = forms.MultipleChoiceField(
        choices=(), required=False, widget=forms.CheckboxSelectMultiple, label="Revisions to compare"
    )
    other_revisions = forms.CharField(
        max_length=1000, required=False, label="Other revisions", help_text="Commit ids, separated by commas."
    )
    raters_needed = forms.IntegerField(min_value=1, max_value=50, initial=3, help_text="Ratings each output needs.")
    max_new_tokens = forms.IntegerField(min_value=1, initial=64)
    temperature = forms.FloatField(min_value=0, max_value=2, initial=0.8)
    top_p = forms.FloatField(min_value=0.01, max_value=1, initial=1.0)
    top_k = forms.IntegerField(min_value=0, max_value=1000, initial=0)
    repetition_penalty = forms.FloatField(min_value=0.5, max_value=2, initial=1.0)
    seed = forms.IntegerField(min_value=0, initial=0, help_text="The same seed for every output: comparable runs.")

    def __init__(self, *args, prompt_sets, refs: dict[str, list[str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["prompt_set"].queryset = prompt_sets
        names = refs["branches"] + refs["tags"]
        self.fields["revisions"].choices = [(name, name) for name in names]

    def clean(self):
        cleaned = super().clean()
        if not (cleaned.get("file") or cleaned.get("dataset") or cleaned.get("prompt_set")):
            raise forms.ValidationError("Upload a prompt file, name a dataset file, or choose a prompt set.")
        if cleaned.get("dataset") and not cleaned.get("dataset_path"):
            self.add_error("dataset_path", "Which file of the dataset holds the prompts?")
        if not self.revision_names():
            self.add_error("revisions", "Choose at least one revision.")
        return cleaned

    def revision_names(self) -> list[str]:
        other = [r.strip() for r in (self.cleaned_data.get("other_revisions") or "").split(",") if r.strip()]
        return [*self.cleaned_data.get("revisions", []), *other]

    def params(self) -> dict:
        names = ("max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "seed")
        return {name: self.cleaned_data[name] for name in names}
