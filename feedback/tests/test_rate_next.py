"""'Rate next': the next finished output a rater should see, and the /rate page that serves it."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from conftest import client_for, make_user
from feedback import selectors, services
from feedback.models import CampaignItem, Rating, RatingCampaign
from inference.models import Generation
from inference.tests.conftest import make_model_repo

pytestmark = pytest.mark.django_db


def make_campaign(*, user, repo, prompts=("Once", "The cat"), raters_needed: int = 2, system: bool = False):
    """A campaign whose outputs the worker has finished (the worker itself runs in test_campaigns)."""
    data = "".join(json.dumps({"prompt": p}) + "\n" for p in prompts).encode()
    owner = None if system else user
    prompt_set = services.prompt_set_create(
        user=owner, repo=repo, name="p", data=data, filename="p.jsonl", system=system
    )
    campaign = services.campaign_start(
        user=owner, repo=repo, prompt_set=prompt_set, revisions=["main"], raters_needed=raters_needed, system=system
    )
    services.campaign_generate(campaign_id=campaign.pk)
    Generation.objects.filter(campaign_item__campaign=campaign).update(
        status=Generation.Status.DONE, text="A story.", finished_at=timezone.now()
    )
    return campaign


def rate(user, item: CampaignItem, thumb: str = "up") -> Rating:
    return services.rating_submit(generation=item.generation, user=user, data=services.RatingInput(thumb=thumb))[0]


@pytest.fixture
def model(alice, tiny_model_files):
    return make_model_repo(owner=alice, files=tiny_model_files)


def next_for(user, **kwargs):
    return selectors.rating_next_for_user(user=user, **kwargs)


def test_the_next_output_is_a_finished_one_with_the_fewest_ratings(model, alice, bob, charlie):
    campaign = make_campaign(user=alice, repo=model)
    first, second = CampaignItem.objects.order_by("pk")
    Generation.objects.filter(pk=second.generation_id).update(status=Generation.Status.QUEUED)

    assert next_for(bob) == first
    rate(charlie, first)
    Generation.objects.filter(pk=second.generation_id).update(status=Generation.Status.DONE)
    assert next_for(bob) == second  # no ratings yet comes before one rating
    assert next_for(bob, campaign=campaign) == second


def test_a_rater_never_gets_their_own_generation(model, alice):
    make_campaign(user=alice, repo=model)

    assert next_for(alice) is None


def test_a_rater_never_gets_an_output_they_rated(model, alice, bob):
    make_campaign(user=alice, repo=model)
    first, second = CampaignItem.objects.order_by("pk")

    rate(bob, first)
    assert next_for(bob) == second
    rate(bob, second, "down")
    assert next_for(bob) is None


def test_an_output_with_enough_counted_ratings_leaves_the_queue(model, alice, bob, charlie):
    make_campaign(user=alice, repo=model, prompts=("Once",), raters_needed=2)
    item = CampaignItem.objects.get()
    dave, eve = make_user("dave"), make_user("eve")
    rate(bob, item)
    spammer = make_user("spammer")
    rate(spammer, item)
    services.rater_hide(user=spammer, staff=alice)  # hidden raters do not count

    assert next_for(charlie) == item
    rate(dave, item)
    assert next_for(charlie) is None and next_for(eve) is None


def test_ratings_by_the_models_maintainers_do_not_fill_its_queue(model, alice, bob):
    make_campaign(user=None, repo=model, prompts=("Once",), raters_needed=1, system=True)
    item = CampaignItem.objects.get()

    assert next_for(alice) == item  # started by the demo loader, not by alice: hers to rate too
    rate(alice, item)
    assert Rating.objects.get().by_maintainer
    assert next_for(bob) == item and next_for(alice) is None


def test_outputs_of_a_private_model_are_only_for_those_who_can_read_it(alice, bob, tiny_model_files):
    private = make_model_repo(owner=alice, files=tiny_model_files, private=True)
    make_campaign(user=alice, repo=private, prompts=("Once",))

    assert next_for(bob) is None
    assert client_for(bob).get(f"/rate/{RatingCampaign.objects.get().pk}").status_code == 404


def test_skipped_outputs_are_left_out(model, alice, bob):
    make_campaign(user=alice, repo=model)
    first, second = CampaignItem.objects.order_by("pk")

    assert next_for(bob, skipped=[first.pk]) == second


def test_the_selector_takes_one_query_however_long_the_queue(model, alice, bob, django_assert_num_queries):
    for index in range(3):
        make_campaign(user=alice, repo=model, prompts=[f"p{index}-{n}" for n in range(20)])
    for item in CampaignItem.objects.all()[:30]:
        rate(make_user(f"r{item.pk}"), item)

    with django_assert_num_queries(1):
        item = next_for(bob)
        assert item.generation.text and item.prompt.text and item.campaign.repository.repo_id


def test_the_rate_page_serves_the_panel_and_comes_back_after_saving(model, alice, bob, django_assert_max_num_queries):
    make_campaign(user=alice, repo=model, prompts=("Once upon a time", "The cat"))
    first, second = CampaignItem.objects.order_by("pk")
    client = client_for(bob)
    client.get("/rate")

    with django_assert_max_num_queries(12):
        page = client.get("/rate").content.decode()
    assert "Once upon a time" in page and "A story." in page and f"/generations/{first.generation_id}/rate" in page
    assert first.commit.oid[:7] not in page  # blind: which revision wrote it is not shown
    saved = client.post(
        f"/generations/{first.generation_id}/rate",
        {"thumb": "up", "stars": "4", "tags": ["helpful"], "comment": "Nice", "next": "/rate"},
    )
    assert saved.status_code == 302 and saved["Location"] == "/rate"
    rating = Rating.objects.get(user=bob)
    assert (rating.thumb, rating.stars, rating.tags, rating.comment) == ("up", 4, ["helpful"], "Nice")
    after = client.get("/rate", HTTP_HX_REQUEST="true").content.decode()
    assert "The cat" in after and "<html" not in after  # the fragment htmx swaps in
    client.post(f"/generations/{second.generation_id}/rate", {"thumb": "down", "next": "/rate"})
    assert "Nothing left to rate" in client.get("/rate").content.decode()


def test_skip_moves_on_and_the_skipped_can_be_shown_again(model, alice, bob):
    make_campaign(user=alice, repo=model, prompts=("Once",))
    item = CampaignItem.objects.get()
    client = client_for(bob)

    skipped = client.post("/rate", {"generation": str(item.generation_id), "action": "skip"}, HTTP_HX_REQUEST="true")
    assert (
        "Nothing left to rate" in skipped.content.decode() and "Show the outputs I skipped" in skipped.content.decode()
    )
    again = client.post("/rate", {"action": "reset-skipped"}, HTTP_HX_REQUEST="true")
    assert "Once" in again.content.decode() and not Rating.objects.exists()
    plain = client.post("/rate", {"generation": str(item.generation_id), "action": "skip"})
    assert plain.status_code == 302 and plain["Location"] == "/rate"


def test_posts_to_the_queue_that_are_not_skips_are_refused(model, alice, bob):
    make_campaign(user=alice, repo=model, prompts=("Once",))
    item = CampaignItem.objects.get()
    client = client_for(bob)

    assert client.post("/rate", {"generation": str(item.generation_id), "thumb": "up"}).status_code == 400
    assert client.post("/rate", {"generation": "not-an-id", "action": "skip"}).status_code == 404
    assert not Rating.objects.exists()


def test_anonymous_visitors_are_sent_to_log_in(model):
    response = client_for().get("/rate")

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_campaign_pages_show_progress_and_poll_only_while_generating(model, alice, bob):
    campaign = make_campaign(user=alice, repo=model)
    Generation.objects.filter(pk=CampaignItem.objects.first().generation_id).update(status=Generation.Status.QUEUED)
    client = client_for(alice)
    url = f"/alice/tiny/campaigns/{campaign.pk}"

    generating = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    Generation.objects.update(status=Generation.Status.DONE)
    done = client.get(url, HTTP_HX_REQUEST="true").content.decode()

    assert 'hx-trigger="every 1s"' in generating and "1 of 2 outputs generated (50 %)" in generating
    assert "hx-trigger" not in done and "2 of 2 outputs generated (100 %)" in done and ">done<" in done
    listing = client.get("/alice/tiny/campaigns").content.decode()
    assert campaign.name in listing and "New campaign" in listing
    assert "New campaign" not in client_for(bob).get("/alice/tiny/campaigns").content.decode()
    assert client_for(bob).get("/alice/tiny/campaigns/new").status_code == 403


def test_a_maintainer_starts_a_campaign_from_an_uploaded_file(model, alice):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from models_hub import services as hub

    hub.tag_create(repo=model, name="v0.1")
    form = {"revisions": ["main", "v0.1"], "raters_needed": 2, "max_new_tokens": 16, "temperature": 0.8}
    form |= {"top_p": 1, "top_k": 0, "repetition_penalty": 1, "seed": 0}
    client = client_for(alice)

    bad = client.post("/alice/tiny/campaigns/new", {**form, "file": SimpleUploadedFile("p.jsonl", b'{"prompt": 1}\n')})
    good = client.post(
        "/alice/tiny/campaigns/new", {**form, "file": SimpleUploadedFile("p.jsonl", b'{"prompt": "Hi"}\n')}
    )

    assert bad.status_code == 400 and "line 1: &#x27;prompt&#x27; must be a string" in bad.content.decode()
    campaign = RatingCampaign.objects.get()
    assert good.status_code == 302 and good["Location"] == f"/alice/tiny/campaigns/{campaign.pk}"
    assert campaign.total == 1 and campaign.prompt_set.prompt_count == 1  # main and v0.1 are one commit


def test_the_campaign_list_takes_the_same_queries_however_many_campaigns(model, alice, django_assert_max_num_queries):
    client = client_for(alice)
    make_campaign(user=alice, repo=model)
    client.get("/alice/tiny/campaigns")
    with django_assert_max_num_queries(10) as one:
        client.get("/alice/tiny/campaigns")
    for _ in range(4):
        make_campaign(user=alice, repo=model)

    with django_assert_max_num_queries(len(one.captured_queries)):
        page = client.get("/alice/tiny/campaigns").content.decode()
    assert page.count('href="/rate/') == 5
