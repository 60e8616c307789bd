from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand

from models_hub.storage.cleanup import storage_cleanup
from models_hub.storage.uploads import STALE_AFTER


class Command(BaseCommand):
    help = (
        "Remove what interrupted uploads left behind (resumable uploads never committed, temporary files) "
        "and blobs nothing refers to, once untouched for a while (default 24 h). Celery beat runs this hourly."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--hours", type=float, default=STALE_AFTER.total_seconds() / 3600)

    def handle(self, *args, hours: float, **options) -> None:
        report = storage_cleanup(older_than=timedelta(hours=hours))
        self.stdout.write(", ".join(f"{name.replace('_', ' ')}: {count}" for name, count in report.as_dict().items()))
