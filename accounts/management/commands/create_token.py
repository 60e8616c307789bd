from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiToken, User
from accounts.services import token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it (it is shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--scope", choices=ApiToken.Scope.values, default=ApiToken.Scope.READ)
        parser.add_argument("--name", default="command line")

    def handle(self, *args, username: str, scope: str, name: str, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"There is no user named '{username}'.")
        created = token_create(user=user, name=name, scope=scope)
        self.stdout.write(created.secret)
