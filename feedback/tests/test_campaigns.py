"""Rating campaigns: a prompt set generated against chosen revisions, by a task that is safe to run twice."""

from __future__ import annotations

import json

import pytest

from conftest import make_commit, make_user
from feedback import selectors, services
from feedback.models import CampaignItem, RatingCampaign
from feedback.tasks import campaign_generate
from inference.models import Generation
from inference.tests.conftest import make_model_repo
from models_hub import services as hub
from models_hub.errors import BadRequest, Forbidden
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def make_prompt_set(*, user, repo, prompts=("Once upon a time", "The cat", "One day")):
    data = "".join(json.dumps({"prompt": p}) + "\n" for p in prompts).encode()
    return services.prompt_set_create(user=user, repo=repo, name="stories", data=data, filename="p.jsonl")


@pytest.fixture
def model(alice, tiny_model_files):
    """alice/tiny with two revisions: v0.1, then main one commit later."""
    repo = make_model_repo(owner=alice, files=tiny_model_files)
    hub.tag_create(repo=repo, name="v0.1", revision=repo.refs.get(name="main").commit.oid)
    make_commit(repo=repo, author=alice, files={"README.md": tiny_model_files["README.md"] + b"\nv2\n"})
    return repo


def test_a_campaign_generates_every_prompt_on_every_revision_once_even_when_its_task_runs_again(
    celery_worker, model, alice
):
    prompt_set = make_prompt_set(user=alice, repo=model)

    campaign = services.campaign_start(
        user=alice,
        repo=model,
        prompt_set=prompt_set,
        revisions=["v0.1", "main"],
        params={"max_new_tokens": 6, "seed": 3},
        raters_needed=2,
    )

    assert campaign.total == 6 and [r["revision"] for r in campaign.revisions] == ["v0.1", "main"]
    assert all(len(r["commit"]) == 40 for r in campaign.revisions)
    assert wait_for(lambda: selectors.progress_of(campaign).complete, timeout=60)
    campaign_generate.delay(campaign.pk)  # a redelivered message, or a second click in the admin
    assert services.campaign_generate(campaign_id=campaign.pk) == 0
    assert wait_for(lambda: not Generation.objects.filter(status__in=["queued", "running"]).exists())

    campaign.refresh_from_db()
    progress = selectors.progress_of(campaign)
    assert (progress.total, progress.finished, progress.failed, progress.percent) == (6, 6, 0, 100)
    assert selectors.campaign_status(campaign, progress) == "done"
    generations = Generation.objects.filter(campaign_item__campaign=campaign)
    assert generations.count() == 6 == Generation.objects.count() == CampaignItem.objects.count()
    assert set(generations.values_list("status", "source", "max_new_tokens", "seed")) == {("done", "batch", 6, 3)}
    pairs = set(CampaignItem.objects.values_list("prompt__text", "commit__oid"))
    assert len(pairs) == 6 and {oid for _, oid in pairs} == {r["commit"] for r in campaign.revisions}


def test_creating_the_outputs_twice_writes_them_once(model, alice):
    campaign = services.campaign_start(
        user=alice, repo=model, prompt_set=make_prompt_set(user=alice, repo=model), revisions=["v0.1", "main"]
    )

    first = services.campaign_generate(campaign_id=campaign.pk)
    second = services.campaign_generate(campaign_id=campaign.pk)

    assert (first, second) == (6, 0) and CampaignItem.objects.count() == 6 == Generation.objects.count()
    campaign.refresh_from_db()
    assert campaign.status == RatingCampaign.Status.GENERATING
    progress = selectors.progress_of(campaign)
    assert (progress.created, progress.finished, progress.complete) == (6, 0, False)
    assert selectors.campaign_status(campaign, progress) == "generating"


def test_two_names_for_one_commit_generate_it_once(model, alice):
    head = model.refs.get(name="main").commit.oid

    campaign = services.campaign_start(
        user=alice, repo=model, prompt_set=make_prompt_set(user=alice, repo=model), revisions=["main", head, " main "]
    )

    assert campaign.total == 3 and campaign.revisions == [{"revision": "main", "commit": head}]


@pytest.mark.parametrize(
    ("revisions", "params", "raters", "message"),
    [
        (["nope"], {}, 1, "has no revision 'nope'"),
        ([], {}, 1, "at least one revision"),
        (["main"], {"temperature": 9}, 1, "'temperature' must be between"),
        (["main"], {}, 0, "'raters_needed' must be a whole number from 1 to 50"),
        ([f"r{i}" for i in range(9)], {}, 1, "at most 8 revisions"),
    ],
)
def test_a_campaign_with_bad_settings_is_refused_before_anything_is_written(
    model, alice, revisions, params, raters, message
):
    prompt_set = make_prompt_set(user=alice, repo=model)

    with pytest.raises(BadRequest, match=message):
        services.campaign_start(
            user=alice, repo=model, prompt_set=prompt_set, revisions=revisions, params=params, raters_needed=raters
        )
    assert not RatingCampaign.objects.exists()


def test_a_revision_that_cannot_run_is_refused(model, alice):
    hub.branch_create(repo=model, name="empty", start_revision="main")
    hub.commit_create(repo=model, author=alice, title="rm", branch="empty", deletions=["config.json"])

    with pytest.raises(BadRequest, match="empty cannot be run: .*no config.json"):
        services.campaign_start(
            user=alice, repo=model, prompt_set=make_prompt_set(user=alice, repo=model), revisions=["empty"]
        )


def test_only_maintainers_start_campaigns_and_only_with_their_own_prompt_sets(model, alice, bob, charlie):
    prompt_set = make_prompt_set(user=alice, repo=model)
    other_model = make_model_repo(owner=bob, files={"config.json": b"{}"}, name="other")

    with pytest.raises(Forbidden):
        services.campaign_start(user=charlie, repo=model, prompt_set=prompt_set, revisions=["main"])
    with pytest.raises(BadRequest, match="your own prompt sets"):
        services.campaign_start(user=bob, repo=other_model, prompt_set=prompt_set, revisions=["main"])
    staff = make_user("staffer", is_staff=True)
    assert services.campaign_start(user=staff, repo=model, prompt_set=prompt_set, revisions=["main"]).total == 3
