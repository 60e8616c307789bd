import pytest
from django.core.cache import cache, caches

from conftest import make_commit
from inference.tests.conftest import tiny_model_files  # noqa: F401 - the tiny model fixture
from tests.conftest import celery_worker  # noqa: F401 - the real worker


@pytest.fixture(autouse=True)
def counters_cleared():
    """Rate counters and the refit debounce live in the shared caches, which outlive each test's database."""
    caches["downloads"].clear()
    cache.clear()


def two_revision_model(*, owner, files, name: str = "tiny"):
    """A model whose v1 tag and main branch are two different commits (same weights, another card)."""
    from inference.tests.conftest import make_model_repo
    from models_hub.services.refs import tag_create

    repo = make_model_repo(owner=owner, files=files, name=name)
    tag_create(repo=repo, name="v1", revision="main")
    make_commit(repo=repo, author=owner, files={"README.md": files["README.md"] + b"\nv2\n"}, title="v2")
    return repo


@pytest.fixture
def model(alice, tiny_model_files):  # noqa: F811 - the fixture imported above
    return two_revision_model(owner=alice, files=tiny_model_files)


def finish(battle, text_a: str = "The cat sat.", text_b: str = "A dog ran.") -> None:
    """Leave both outputs as the inference worker does when it is done (the worker's own path is exercised in
    inference/tests and by the end-to-end tests here)."""
    from django.utils import timezone

    from inference.models import Generation

    now = timezone.now()
    for generation_id, text in ((battle.generation_a_id, text_a), (battle.generation_b_id, text_b)):
        Generation.objects.filter(pk=generation_id).update(status="done", text=text, finished_at=now)
