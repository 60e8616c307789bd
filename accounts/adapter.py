from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django import forms
from django.core.exceptions import ValidationError

from accounts.services import namespace_check_free


class AccountAdapter(DefaultAccountAdapter):
    def clean_username(self, username, shallow=False):
        username = super().clean_username(username, shallow=shallow)
        try:
            namespace_check_free(username)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages[0]) from None
        return username
