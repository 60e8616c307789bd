from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    # allauth's own app is also labelled "Accounts" in the admin index: keep the two apart.
    verbose_name = "Users and organisations"
