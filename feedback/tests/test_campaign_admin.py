"""The admin: upload a prompt set, start a campaign, see campaigns with their progress."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from conftest import client_for, make_user
from feedback import services
from feedback.models import PromptSet, RatingCampaign
from inference.tests.conftest import make_model_repo

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(db):
    return make_user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def model(alice, tiny_model_files):
    return make_model_repo(owner=alice, files=tiny_model_files)


def test_staff_upload_a_prompt_set_in_the_admin(root):
    upload = SimpleUploadedFile("p.csv", b"prompt,system\nOnce upon a time,\nThe dog,Be brief\n")

    response = client_for(root).post("/admin/feedback/promptset/add/", {"name": "Stories", "file": upload})

    assert response.status_code == 302, response.content.decode()[-3000:]
    prompt_set = PromptSet.objects.get()
    assert (prompt_set.name, prompt_set.prompt_count, prompt_set.created_by) == ("Stories", 2, root)
    page = client_for(root).get(f"/admin/feedback/promptset/{prompt_set.pk}/change/").content.decode()
    assert "View the 2 prompts" in page


def test_a_rejected_upload_in_the_admin_lists_the_lines_and_creates_nothing(root):
    upload = SimpleUploadedFile("p.jsonl", b'{"prompt": "ok"}\n{"prompt": 1}\n')

    response = client_for(root).post("/admin/feedback/promptset/add/", {"name": "", "file": upload})

    assert response.status_code == 200
    assert "line 2: &#x27;prompt&#x27; must be a string, not a number" in response.content.decode()
    assert not PromptSet.objects.exists()


def test_staff_start_a_campaign_in_the_admin_and_see_its_progress(root, model, django_assert_max_num_queries):
    prompt_set = services.prompt_set_create(
        user=root, repo=None, name="s", data=b'{"prompt": "a"}\n{"prompt": "b"}\n', filename="s.jsonl"
    )
    form = {
        "name": "",
        "repository": model.pk,
        "prompt_set": prompt_set.pk,
        "revision_names": "main",
        "raters_needed": 2,
        "max_new_tokens": 8,
        "temperature": 0.7,
        "top_p": 1.0,
        "top_k": 0,
        "repetition_penalty": 1.0,
        "seed": 1,
    }
    client = client_for(root)

    refused = client.post("/admin/feedback/ratingcampaign/add/", {**form, "revision_names": "nope"})
    response = client.post("/admin/feedback/ratingcampaign/add/", form)

    assert "has no revision &#x27;nope&#x27;" in refused.content.decode()
    assert response.status_code == 302, response.content.decode()[-3000:]
    campaign = RatingCampaign.objects.get()
    assert (campaign.total, campaign.raters_needed, campaign.temperature, campaign.created_by) == (2, 2, 0.7, root)
    assert campaign.revisions[0]["revision"] == "main" and campaign.commits.count() == 1
    services.campaign_generate(campaign_id=campaign.pk)
    for _ in range(3):
        services.campaign_start(user=root, repo=model, prompt_set=prompt_set, revisions=["main"])
    client.get("/admin/feedback/ratingcampaign/")  # warm the session and content types
    with django_assert_max_num_queries(8):
        listing = client.get("/admin/feedback/ratingcampaign/").content.decode()
    assert "0/2 (0 %)" in listing and "generating" in listing and "queued" in listing
