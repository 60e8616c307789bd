"""The playground's form: it parses what was typed; ranges are checked once, by services.sampling_clean."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS

from inference.models import Generation
from inference.services import MAX_SEED, SAMPLING_RANGES

STEPS = {"temperature": "0.05", "top_p": "0.01", "top_k": "1", "repetition_penalty": "0.05"}


class PlaygroundForm(forms.Form):
    revision = forms.CharField(max_length=255, required=False, initial="main")
    system_prompt = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 2}))
    prompt = forms.CharField(
        strip=False, widget=forms.Textarea(attrs={"rows": 6}), error_messages={"required": "The prompt is empty."}
    )
    max_new_tokens = forms.IntegerField(required=False)
    temperature = forms.FloatField(required=False)
    top_p = forms.FloatField(required=False)
    top_k = forms.IntegerField(required=False)
    repetition_penalty = forms.FloatField(required=False)
    seed = forms.IntegerField(required=False, help_text="Blank for a random seed.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cap = settings.FLYWHEEL_MAX_NEW_TOKENS
        # The browser's own checks mirror the service's ranges, which stay the authority.
        self.fields["max_new_tokens"].initial = min(64, cap)
        self.fields["max_new_tokens"].widget.attrs.update({"min": 1, "max": cap, "step": 1})
        for name, (_kind, low, high, default) in SAMPLING_RANGES.items():
            self.fields[name].initial = default
            self.fields[name].widget.attrs.update({"min": low, "max": high, "step": STEPS[name]})
        self.fields["seed"].widget.attrs.update({"min": 0, "max": MAX_SEED, "placeholder": "random"})
        self.fields["prompt"].widget.attrs["placeholder"] = "Write a prompt…"

    def clean_prompt(self) -> str:
        prompt = self.cleaned_data["prompt"]
        if not prompt.strip():
            raise forms.ValidationError("The prompt is empty.")
        return prompt

    def first_error(self) -> str:
        name, problems = next(iter(self.errors.items()))
        label = "" if name == NON_FIELD_ERRORS or name == "prompt" else f"{self[name].label}: "
        return f"{label}{problems[0]}"

    def params(self) -> dict[str, Any]:
        """The sampling parameters as the service takes them (None: the default, or a random seed)."""
        return {name: self.cleaned_data.get(name) for name in ("max_new_tokens", *SAMPLING_RANGES, "seed")}


def initial_from(generation: Generation) -> dict[str, Any]:
    """The form as it was when `generation` was asked for, ready to tweak and run again (a new random seed)."""
    prompt = generation.messages[-1]["content"] if generation.messages else generation.prompt
    return {
        "revision": generation.revision,
        "system_prompt": generation.system_prompt,
        "prompt": prompt,
        **{name: value for name, value in generation.sampling().items() if name != "seed"},
    }
