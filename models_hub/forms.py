"""Forms of the repository pages. They check shape only; the services decide what is allowed."""

from __future__ import annotations

from django import forms

from accounts.models import Membership, User
from models_hub.models import Repository


def writable_namespaces(user: User) -> list[str]:
    """The user's own name, then the organisations where they may create repositories."""
    orgs = (
        Membership.objects.filter(user=user, role__in=[Membership.Role.ADMIN, Membership.Role.WRITE])
        .select_related("organization")
        .order_by("organization__name")
    )
    return [user.username, *[m.organization.name for m in orgs]]


class RepoCreateForm(forms.Form):
    kind = forms.ChoiceField(choices=Repository.Kind.choices, initial=Repository.Kind.MODEL, widget=forms.RadioSelect)
    owner = forms.ChoiceField(label="Owner")
    name = forms.CharField(max_length=96, help_text="Letters, digits, '-', '_' and '.'; starts with a letter or digit.")
    private = forms.BooleanField(required=False, help_text="Only you (and your organisation) can see it.")

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [(n, n) for n in writable_namespaces(user)]


class VisibilityForm(forms.Form):
    private = forms.BooleanField(required=False)


class GateForm(forms.Form):
    # A radio button needs a non-empty value, so "off" stands for the model's "" (not gated).
    gated = forms.ChoiceField(
        choices=[(value or "off", label) for value, label in Repository.Gate.choices],
        widget=forms.RadioSelect,
        label="Downloads",
    )

    def clean_gated(self) -> str:
        value = self.cleaned_data["gated"]
        return Repository.Gate.OFF if value == "off" else value


class AccessDecisionForm(forms.Form):
    request_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    status = forms.ChoiceField(choices=[("accepted", "Accept"), ("rejected", "Reject"), ("pending", "Move to pending")])
    reason = forms.CharField(max_length=500, required=False, label="Reason (shown to the requester)")


class AccessGrantForm(forms.Form):
    username = forms.CharField(max_length=150, label="Username")


class MoveForm(forms.Form):
    namespace = forms.CharField(max_length=96, label="Owner")
    name = forms.CharField(max_length=96, label="New name")


class DeleteForm(forms.Form):
    confirm = forms.CharField(max_length=200, label="Type the repository id to confirm")

    def __init__(self, *args, repo: Repository, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.repo = repo

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"].strip()
        if value != self.repo.repo_id:
            raise forms.ValidationError(f"Type {self.repo.repo_id} exactly to delete this repository.")
        return value


class CommitMessageForm(forms.Form):
    summary = forms.CharField(max_length=500, label="Commit message")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Description")
    # The head of the branch when the page was opened: a commit made since then refuses this one.
    parent = forms.RegexField(regex=r"^[0-9a-f]{4,40}$", required=False, widget=forms.HiddenInput)


class FileDeleteForm(CommitMessageForm):
    pass


class FileEditForm(CommitMessageForm):
    # strip=False: the file is saved exactly as written (indentation, the last newline).
    content = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false"}), required=False, strip=False
    )
    field_order = ["content", "summary", "description", "parent"]
