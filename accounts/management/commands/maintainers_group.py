from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.services import maintainers_group_ensure


class Command(BaseCommand):
    help = "Create or update the Maintainers group (admin access to the hub), optionally adding staff users to it."

    def add_arguments(self, parser):
        parser.add_argument("usernames", nargs="*", help="Users to add to the group; they become staff.")

    def handle(self, *args, usernames: list[str], **options):
        group = maintainers_group_ensure()
        for username in usernames:
            user = User.objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"There is no user named '{username}'.")
            if not user.is_staff:
                User.objects.filter(pk=user.pk).update(is_staff=True)
            user.groups.add(group)
        self.stdout.write(f"{group.name}: {group.permissions.count()} permissions, {group.user_set.count()} members.")
