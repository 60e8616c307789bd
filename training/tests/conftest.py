from __future__ import annotations

import pytest

from inference.tests.conftest import tiny_chat_model_files, tiny_model_files  # noqa: F401 - tiny model fixtures
from tests.conftest import celery_worker, finished_task_ids  # noqa: F401 - the real worker fixtures


@pytest.fixture
def staff(db):
    from conftest import make_user

    return make_user("staffer", is_staff=True)
