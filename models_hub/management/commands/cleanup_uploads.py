from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand

from models_hub.storage.uploads import STALE_AFTER, uploads_cleanup


class Command(BaseCommand):
    help = "Remove resumable uploads that were never committed and have not moved for a while (default 24 h)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--hours", type=float, default=STALE_AFTER.total_seconds() / 3600)

    def handle(self, *args, hours: float, **options) -> None:
        removed = uploads_cleanup(older_than=timedelta(hours=hours))
        self.stdout.write(f"Removed {removed} stale upload(s).")
