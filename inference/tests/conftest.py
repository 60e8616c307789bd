from __future__ import annotations

import pytest

from conftest import make_commit, make_repo
from inference.tests.tiny_models import build_tiny_model
from tests.conftest import celery_worker, finished_task_ids  # noqa: F401 - the real worker fixtures

CARD = b"---\npipeline_tag: text-generation\nlibrary_name: transformers\n---\n# Tiny\n"


@pytest.fixture(scope="session")
def tiny_model_files(tmp_path_factory) -> dict[str, bytes]:
    return {**build_tiny_model(tmp_path_factory.mktemp("tiny")), "README.md": CARD}


@pytest.fixture(scope="session")
def tiny_chat_model_files(tmp_path_factory) -> dict[str, bytes]:
    return {**build_tiny_model(tmp_path_factory.mktemp("tiny-chat"), chat=True), "README.md": CARD}


def make_model_repo(*, owner, files: dict[str, bytes], name: str = "tiny", private: bool = False):
    repo = make_repo(owner=owner, name=name, private=private)
    make_commit(repo=repo, author=owner, files=files, title="Add the model")
    return repo
