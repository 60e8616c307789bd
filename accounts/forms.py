"""Forms for profiles, API tokens and organisations. Writes go through accounts.services."""

from __future__ import annotations

from django import forms

from accounts.models import ApiToken, Membership, User
from accounts.validators import MAX_NAME_LENGTH


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["full_name", "bio"]
        widgets = {"bio": forms.Textarea(attrs={"rows": 4})}
        help_texts = {"bio": "A few words shown on your profile page."}


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “laptop” or “CI”.")
    scope = forms.ChoiceField(
        choices=ApiToken.Scope.choices,
        initial=ApiToken.Scope.READ,
        widget=forms.RadioSelect,
        help_text="Read: download public repositories and your private ones. Write: also create repositories and push commits.",
    )


class OrganizationCreateForm(forms.Form):
    name = forms.CharField(
        max_length=MAX_NAME_LENGTH,
        help_text="Used in URLs and repository ids: letters, digits, '-', '_' and '.'.",
    )
    full_name = forms.CharField(max_length=150, required=False, label="Display name")


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=MAX_NAME_LENGTH)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.READ)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)
