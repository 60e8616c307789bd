import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import caches

from inference.tests.conftest import tiny_model_files  # noqa: F401 - the tiny model fixture
from tests.conftest import celery_worker  # noqa: F401 - the real worker


@pytest.fixture(autouse=True)
def rate_counters_cleared():
    """The per-minute rating counters (feedback.rate_counter: files, or the shared cache with Redis) outlive each
    test's database."""
    caches["downloads"].clear()
    shutil.rmtree(Path(settings.DATA_DIR) / "rate-counters", ignore_errors=True)
