"""Load the demo: a demo user, a tiny story model built on this machine, and the datasets that go with it.

Idempotent: a repository that exists is left alone, and the trained model is cached under
DATA_DIR/demo-model, so a second run changes nothing and takes a second.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from accounts.models import User
from accounts.services import maintainers_group_ensure
from config.env import env_int
from models_hub import services
from models_hub.models import Repository
from models_hub.storage.blobs import blob_store_bytes, blob_store_stream
from training.trainers.story_corpus import Story, demo_prompts, story_text
from training.trainers.story_corpus import stories as stories_of

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "flywheel-demo"  # noqa: S105 - the documented login of the local demo
MODEL_NAME = "tiny-stories"
CORPUS_NAME = "tiny-stories-corpus"
PROMPTS_NAME = "story-prompts"
DEFAULT_TRAIN_SECONDS = 90


class Command(BaseCommand):
    help = "Create the demo user and the demo repositories, training the tiny demo model if it is not cached."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--train-seconds",
            type=float,
            default=None,
            help="Training budget (default: FLYWHEEL_DEMO_TRAIN_SECONDS or 90).",
        )
        parser.add_argument("--stories", type=int, default=4000, help="Size of the generated story corpus.")

    def handle(self, *args, train_seconds: float | None, stories: int, **options) -> None:
        if train_seconds is None:
            train_seconds = env_int("FLYWHEEL_DEMO_TRAIN_SECONDS", DEFAULT_TRAIN_SECONDS)
        user = demo_user_ensure()
        self._say(f"Demo user: {DEMO_USERNAME} / {DEMO_PASSWORD}")
        corpus = stories_of(stories)
        if _exists(Repository.Kind.MODEL, MODEL_NAME):
            self._say(f"Model {DEMO_USERNAME}/{MODEL_NAME} is already loaded.")
        else:
            self._load_model(user, train_seconds=train_seconds, corpus_size=stories)
        if not _exists(Repository.Kind.DATASET, CORPUS_NAME):
            corpus_repo_load(user, corpus)
            self._say(f"Created dataset {DEMO_USERNAME}/{CORPUS_NAME}")
        if not _exists(Repository.Kind.DATASET, PROMPTS_NAME):
            prompts_repo_load(user)
            self._say(f"Created dataset {DEMO_USERNAME}/{PROMPTS_NAME}")

    def _say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()

    def _load_model(self, user: User, *, train_seconds: float, corpus_size: int) -> None:
        from training.trainers.demo_model import DemoConfig, demo_model_build

        config = DemoConfig(stories=corpus_size, train_seconds=train_seconds)
        self._say(f"Building the demo model (about {train_seconds:.0f} s of training; cached afterwards)...")
        build = demo_model_build(
            settings.DATA_DIR / "demo-model",
            config,
            threads=env_int("FLYWHEEL_TORCH_THREADS", 2),
            progress=self._say,
        )
        model_repo_load(user, build)
        self._say(f"Created model {DEMO_USERNAME}/{MODEL_NAME} (tag v1.0)")


def demo_user_ensure() -> User:
    """The demo user: staff and in the Maintainers group, so the admin panel (where retraining lives) is usable."""
    user = User.objects.filter(username=DEMO_USERNAME).first()
    if user is None:
        # Staff, so the demo can show the maintainer pages (curation, retraining). Never load the demo on a public site.
        user = User.objects.create_user(
            username=DEMO_USERNAME,
            email="demo@flywheel.invalid",
            password=DEMO_PASSWORD,
            full_name="Flywheel Demo",
            is_staff=True,
        )
    # Also for a demo user made by an older load_demo, which was staff without any permission.
    user.groups.add(maintainers_group_ensure())
    return user


def _exists(kind: str, name: str) -> bool:
    return Repository.objects.filter(kind=kind, namespace__iexact=DEMO_USERNAME, name__iexact=name).exists()


def _endpoint() -> str:
    return settings.SITE_URL or f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            yield chunk


def _additions(files: dict[str, bytes]) -> list[services.FileAddition]:
    return [services.FileAddition(path, blob_store_bytes(data)) for path, data in files.items()]


@transaction.atomic
def model_repo_load(user: User, build) -> Repository:
    """Create demo/tiny-stories in one transaction: the model commit (tag v1.0), then a commit of examples."""
    from training.trainers.demo_model import MODEL_FILES

    repo = services.repo_create(kind=Repository.Kind.MODEL, namespace=user.username, name=MODEL_NAME, creator=user)
    additions = [
        services.FileAddition(name, blob_store_stream(_file_chunks(build.path / name))) for name in MODEL_FILES
    ]
    additions += _additions({"README.md": model_card(build.metrics).encode()})
    commit = services.commit_create(
        repo=repo,
        author=user,
        title="Upload the tiny-stories model",
        description=f"Built on this machine by `manage.py load_demo` (build {build.cache_key}).",
        additions=additions,
    )
    services.tag_create(repo=repo, name="v1.0", revision=commit.oid)
    examples = "".join(json.dumps(row) + "\n" for row in build.metrics.get("examples", []))
    services.commit_create(
        repo=repo,
        author=user,
        title="Add example generations",
        additions=_additions({"examples.jsonl": examples.encode(), "build_metrics.json": _metrics_json(build.metrics)}),
    )
    return repo


def _metrics_json(metrics: dict) -> bytes:
    kept = {k: v for k, v in metrics.items() if k != "examples"}
    return (json.dumps(kept, indent=2) + "\n").encode()


@transaction.atomic
def corpus_repo_load(user: User, corpus: list[Story]) -> Repository:
    repo = services.repo_create(kind=Repository.Kind.DATASET, namespace=user.username, name=CORPUS_NAME, creator=user)
    rows = [{"prompt": item.prompt, "completion": " " + item.completion} for item in corpus]
    jsonl = "".join(json.dumps(row) + "\n" for row in rows)
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["id", "text"])
    for index, item in enumerate(corpus):
        writer.writerow([index, story_text(item)])
    services.commit_create(
        repo=repo,
        author=user,
        title="Add the generated story corpus",
        additions=_additions(
            {
                "README.md": corpus_card(len(corpus)).encode(),
                "data/train.jsonl": jsonl.encode(),
                "stories.csv": table.getvalue().encode(),
            }
        ),
    )
    return repo


@transaction.atomic
def prompts_repo_load(user: User) -> Repository:
    repo = services.repo_create(kind=Repository.Kind.DATASET, namespace=user.username, name=PROMPTS_NAME, creator=user)
    prompts = demo_prompts(40)
    services.commit_create(
        repo=repo,
        author=user,
        title="Add story prompts",
        additions=_additions(
            {
                "README.md": prompts_card(len(prompts)).encode(),
                "prompts.jsonl": "".join(json.dumps({"prompt": p}) + "\n" for p in prompts).encode(),
            }
        ),
    )
    return repo


def model_card(metrics: dict) -> str:
    sample = metrics.get("sample", "")
    return f"""---
license: mit
language: en
library_name: transformers
pipeline_tag: text-generation
tags:
- gpt2
- tiny
- stories
- demo
datasets:
- {DEMO_USERNAME}/{CORPUS_NAME}
---

# tiny-stories

A tiny GPT-2 ({metrics.get("parameters", 0):,} parameters) that writes short, simple stories. It was
trained from scratch on this machine by `python manage.py load_demo`: a corpus of generated
stories ([{DEMO_USERNAME}/{CORPUS_NAME}](/datasets/{DEMO_USERNAME}/{CORPUS_NAME})), a byte-level BPE
tokenizer, then {metrics.get("steps", 0):,} training steps ({metrics.get("seconds", 0)} s on {metrics.get("device", "cpu")},
final loss {metrics.get("final_loss", 0)}).

It is small enough to answer instantly on a laptop, which makes it the model to rate, compare and
retrain in the Flywheel demo. Its stories are simple and sometimes mix up names; feedback helps.

## Example

> {sample}

## Use it

```python
import os

os.environ["HF_ENDPOINT"] = "{_endpoint()}"  # this Flywheel server

from transformers import pipeline

generator = pipeline("text-generation", model="{DEMO_USERNAME}/{MODEL_NAME}")
print(generator("Once upon a time, there was a little cat named")[0]["generated_text"])
```

The weights are stored as safetensors; sampling defaults live in `generation_config.json`.
"""


def corpus_card(count: int) -> str:
    return f"""---
license: mit
language:
- en
task_categories:
- text-generation
pretty_name: Tiny generated stories
size_categories:
- {"1K<n<10K" if count >= 1000 else "n<1K"}
tags:
- synthetic
- stories
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train.jsonl
---

# Tiny generated stories

{count:,} short stories generated from templates with a fixed seed (nothing downloaded), the corpus the
demo model [{DEMO_USERNAME}/{MODEL_NAME}](/{DEMO_USERNAME}/{MODEL_NAME}) was trained on.

- `data/train.jsonl`: one story per line as a `prompt` (the opening sentence) and a `completion` (the rest).
- `stories.csv`: the same stories as plain text, with an `id` column.

```python
import os

os.environ["HF_ENDPOINT"] = "{_endpoint()}"

from datasets import load_dataset

print(load_dataset("{DEMO_USERNAME}/{CORPUS_NAME}", split="train")[0])
```
"""


def prompts_card(count: int) -> str:
    return f"""---
license: mit
language:
- en
task_categories:
- text-generation
pretty_name: Story prompts
size_categories:
- n<1K
---

# Story prompts

{count} unfinished story openings ("Once upon a time, there was a brave fox named") to try story
models with in the playground and to collect ratings on. One JSON object per line in `prompts.jsonl`.
"""
