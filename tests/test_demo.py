"""`manage.py load_demo` (what `make run` calls): a demo user and a tiny model that transformers loads from the hub."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import User
from feedback.models import RatingCampaign
from models_hub.models import Commit, Ref, Repository, TreeEntry
from models_hub.storage.blobs import blob_open

pytestmark = pytest.mark.django_db


def materialise(commit: Commit, folder: Path) -> Path:
    """Write a commit's files from the blob store into `folder`, as a client download would."""
    for entry in TreeEntry.objects.filter(commit=commit).select_related("blob"):
        target = folder / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        with blob_open(entry.blob) as handle:
            target.write_bytes(handle.read())
    return folder


def head(repo: Repository) -> Commit:
    return Ref.objects.get(repository=repo, kind=Ref.Kind.BRANCH, name="main").commit


def test_load_demo_builds_a_model_that_loads_and_generates_and_runs_again_as_a_no_op(monkeypatch, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("FLYWHEEL_DEMO_TRAIN_SECONDS", "3")
    out = io.StringIO()
    call_command("load_demo", stories=300, stdout=out)

    assert "step" in out.getvalue() and "tokens/s" in out.getvalue()  # training progress is visible
    demo = User.objects.get(username="demo")
    assert demo.check_password("flywheel-demo")
    assert demo.is_staff and demo.has_perm("models_hub.change_repository")  # the admin is usable
    model_repo = Repository.objects.get(kind="model", namespace="demo", name="tiny-stories")
    assert (model_repo.license, model_repo.pipeline_tag, model_repo.library_name) == (
        "mit",
        "text-generation",
        "transformers",
    )
    tags = {ref.name: ref.commit for ref in Ref.objects.filter(repository=model_repo, kind=Ref.Kind.TAG)}
    weights = {
        name: TreeEntry.objects.get(commit=commit, path="model.safetensors").blob_id for name, commit in tags.items()
    }
    assert set(tags) == {"v0.1", "v1.0"} and weights["v0.1"] != weights["v1.0"]  # two revisions to compare
    assert tags["v1.0"].parent_id == tags["v0.1"].pk and "Saved the early checkpoint (v0.1)" in out.getvalue()
    campaign = RatingCampaign.objects.get(repository=model_repo)
    assert [r["revision"] for r in campaign.revisions] == ["v0.1", "v1.0"] and campaign.created_by is None
    assert campaign.total == 2 * campaign.prompt_set.prompt_count == 24
    assert Repository.objects.filter(kind="dataset", namespace="demo", name="tiny-stories-corpus").exists()
    assert Repository.objects.filter(kind="dataset", namespace="demo", name="story-prompts").exists()

    folder = materialise(head(model_repo), tmp_path / "tiny-stories")
    assert not any(folder.glob("*.bin"))  # weights only as safetensors
    model = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    prompt = "Once upon a time, there was a little cat named"
    output = model.generate(**tokenizer(prompt, return_tensors="pt"), max_new_tokens=12)
    text = tokenizer.decode(output[0], skip_special_tokens=True)
    assert text.startswith(prompt) and len(text) > len(prompt)
    assert "HF_ENDPOINT" in (folder / "README.md").read_text()

    commits_before = Commit.objects.count()
    started = time.monotonic()
    call_command("load_demo", stories=300, stdout=io.StringIO())
    assert Commit.objects.count() == commits_before and RatingCampaign.objects.count() == 1
    assert time.monotonic() - started < 10


def test_demo_corpus_dataset_has_prompt_completion_rows(monkeypatch, tmp_path):
    from training.management.commands.load_demo import corpus_repo_load, demo_user_ensure
    from training.trainers.story_corpus import stories

    repo = corpus_repo_load(demo_user_ensure(), stories(50))

    folder = materialise(head(repo), tmp_path / "corpus")
    rows = [json.loads(line) for line in (folder / "data/train.jsonl").read_text().splitlines()]
    assert len(rows) == 50 and rows[0]["prompt"] and rows[0]["completion"]
    assert (folder / "stories.csv").read_text().startswith("id,text")
    assert repo.card_data["task_categories"] == ["text-generation"]


def test_demo_model_build_reuses_its_cache(tmp_path):
    from training.trainers.demo_model import DemoConfig, demo_model_build

    config = DemoConfig(stories=100, train_seconds=1, n_layer=1, n_embd=32, n_head=2)
    first = demo_model_build(tmp_path, config, progress=lambda _: None)
    started = time.monotonic()
    second = demo_model_build(tmp_path, config, progress=lambda _: None)

    assert second.path == first.path and (second.path / "model.safetensors").exists()
    assert time.monotonic() - started < 1
    assert DemoConfig(seed=7).cache_key() != DemoConfig().cache_key()  # another recipe, another build


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_demo_maintainer_logs_in_and_uses_the_admin(page, live_server):
    """What `load_demo` makes of the demo user (demo_user_ensure), with a repository that needs no training."""
    from training.management.commands.load_demo import corpus_repo_load, demo_user_ensure
    from training.trainers.story_corpus import stories

    corpus_repo_load(demo_user_ensure(), stories(20))

    page.goto("/accounts/login/")
    page.fill("#id_login", "demo")
    page.fill("#id_password", "flywheel-demo")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    page.goto("/admin/")
    assert "permission" not in page.inner_text("#content")
    assert page.title() == "Administration | Flywheel admin"
    page.get_by_role("link", name="Repositories").first.click()
    page.wait_for_url("**/admin/models_hub/repository/")
    assert page.locator("#result_list").get_by_text("demo/tiny-stories-corpus").is_visible()
