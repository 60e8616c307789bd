import pytest
from django.core.cache import caches

from inference.tests.conftest import tiny_model_files  # noqa: F401 - the tiny model fixture
from tests.conftest import celery_worker  # noqa: F401 - the real worker


@pytest.fixture(autouse=True)
def rate_counters_cleared():
    """The per-minute rating counters live in the shared cache, which outlives each test's database."""
    caches["downloads"].clear()
