"""Feedback snapshots: the rows each config gets from known ratings, splits, provenance, reproducibility,
consent, refusals and who may ask. Builds run in the test process (the real-worker test is in tests/)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import organization_create, token_create
from conftest import client_for, make_commit, make_repo, make_user
from feedback.models import Rating, RatingTag
from feedback.services import RatingInput, rater_hide, rating_submit
from feedback.snapshots import rows as snapshot_rows
from feedback.snapshots import selectors, services
from feedback.snapshots.models import FeedbackSnapshot, SnapshotRating
from inference.models import Generation
from models_hub.models import Repository, TreeEntry
from models_hub.storage.blobs import blob_open
from training.models import TrainingRun

pytestmark = pytest.mark.django_db

DAY = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)


def make_generation(*, repo, commit, prompt: str, text: str, system: str = "") -> Generation:
    return Generation.objects.create(
        repository=repo, commit=commit, revision="main", source="batch", prompt=prompt, system_prompt=system,
        text=text, status="done", max_new_tokens=8, temperature=0.8, top_p=1.0, top_k=0, repetition_penalty=1.0,
        seed=1, created_at=DAY, finished_at=DAY,
    )  # fmt: skip


def rate(generation, user, thumb="", stars=None, tags=(), correction="") -> Rating:
    data = RatingInput(thumb=thumb, stars=stars, tags=tags, correction=correction)
    return rating_submit(generation=generation, user=user, data=data)[0]


def files_of(commit) -> dict[str, bytes]:
    out = {}
    for entry in TreeEntry.objects.filter(commit=commit).select_related("blob"):
        with blob_open(entry.blob) as handle:
            out[entry.path] = handle.read()
    return out


def jsonl(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode().splitlines()]


@pytest.fixture
def staff(db):
    return make_user("maintainer", is_staff=True)


@pytest.fixture
def model(alice):
    repo = make_repo(owner=alice)
    make_commit(repo=repo, author=alice, files={"config.json": b"{}"})
    return repo


@pytest.fixture
def raters(db):
    RatingTag.objects.get_or_create(slug="harmful", defaults={"label": "Harmful", "negative": True})
    return [make_user(f"rater{i}") for i in range(4)]


def build(staff, model, dataset="maintainer/tiny-feedback", **filters) -> FeedbackSnapshot:
    snapshot = services.snapshot_request(user=staff, model=model, dataset_id=dataset, filters=filters)
    services.snapshot_build(snapshot_id=snapshot.pk)
    snapshot.refresh_from_db()
    return snapshot


def test_rows_of_each_config(staff, model, raters):
    commit = model.refs.get(name="main").commit
    r0, r1, r2, r3 = raters
    good = make_generation(repo=model, commit=commit, prompt="Tell me a story.", text=" Once upon a time.")
    bad = make_generation(repo=model, commit=commit, prompt="tell me a STORY", text=" No.")
    fixed = make_generation(repo=model, commit=commit, prompt="What is 2+2?", text=" 5")
    with time_machine.travel(DAY, tick=False):
        up = [rate(good, r0, "up"), rate(good, r1, "up"), rate(good, r2, "down")]
        down = rate(bad, r0, "down")
        correction = rate(fixed, r1, "down", correction=" 4")
    snapshot = build(staff, model, validation_fraction=0.0)

    assert snapshot.status == "done", snapshot.error
    files = files_of(snapshot.commit)
    assert set(files) == {
        ".gitattributes",
        "README.md",
        "sft/train.jsonl",
        "preference/train.jsonl",
        "kto/train.jsonl",
    }
    sft = jsonl(files["sft/train.jsonl"])
    assert sorted((r["completion"], r["source"]) for r in sft) == [
        (" 4", "correction"),
        (" Once upon a time.", "rating"),
    ]
    liked = next(r for r in sft if r["source"] == "rating")
    assert liked["messages"] == [
        {"role": "user", "content": liked["prompt"]},
        {"role": "assistant", "content": " Once upon a time."},
    ]
    assert liked["rating_ids"] == sorted([up[0].pk, up[1].pk])
    assert liked["generation_ids"] == [str(good.pk)]
    assert liked["model_commits"] == [commit.oid]
    assert liked["agreement"] == round(2 / 3, 6)
    assert len(liked["raters"]) == 2 and all(len(r) == 20 for r in liked["raters"])
    assert "rater0" not in files["sft/train.jsonl"].decode()

    preference = jsonl(files["preference/train.jsonl"])
    pairs = {(r["chosen"], r["rejected"], r["source"]) for r in preference}
    # "Tell me a story." and "tell me a STORY" are one prompt: its liked and disliked outputs pair up.
    assert pairs == {(" Once upon a time.", " No.", "rating"), (" 4", " 5", "correction")}
    kto = jsonl(files["kto/train.jsonl"])
    assert {(r["completion"], r["label"]) for r in kto} == {
        (" Once upon a time.", True),
        (" No.", False),
        (" 5", False),
        (" 4", True),
    }
    used = set(SnapshotRating.objects.filter(snapshot=snapshot).values_list("rating_id", flat=True))
    assert used == {up[0].pk, up[1].pk, down.pk, correction.pk}  # the minority thumb is in no row
    assert snapshot.ratings_used == 4
    assert snapshot.count_values() == {
        "sft_train": 2,
        "sft_validation": 0,
        "preference_train": 2,
        "preference_validation": 0,
        "kto_train": 4,
        "kto_validation": 0,
    }
    assert list(selectors.snapshots_containing_rating(up[0].pk)) == [snapshot]
    assert list(selectors.snapshots_containing_rating(up[2].pk)) == []
    assert list(selectors.dataset_commits_containing_rating(up[0].pk)) == [snapshot.commit]
    run = TrainingRun.objects.create(
        base_repository=model,
        base_commit=commit,
        dataset_repository=snapshot.dataset,
        dataset_commit=snapshot.commit,
        method="sft",
        created_at=DAY,
    )
    assert list(selectors.training_runs_containing_rating(up[0].pk)) == [run]
    assert list(selectors.training_runs_containing_rating(up[2].pk)) == []


def test_prompt_rules():
    assert snapshot_rows.normalise("  Tell me,\n a STORY!! ") == "tell me a story"
    assert snapshot_rows.prompt_key("Tell me a story.") == snapshot_rows.prompt_key("tell me   a story")
    assert snapshot_rows.prompt_key("a", "system one") != snapshot_rows.prompt_key("a", "system two")


def make_prompts(model, raters, count: int) -> list[Rating]:
    commit = model.refs.get(name="main").commit
    ratings = []
    with time_machine.travel(DAY, tick=False):
        for i in range(count):
            liked = make_generation(repo=model, commit=commit, prompt=f"Prompt number {i}", text=f" good {i}")
            disliked = make_generation(repo=model, commit=commit, prompt=f"prompt number {i}!", text=f" bad {i}")
            ratings += [rate(liked, raters[i % 4], "up", stars=4), rate(disliked, raters[(i + 1) % 4], "down")]
    return ratings


def test_split_is_by_prompt_and_the_same_filters_give_the_same_tree(staff, model, raters):
    make_prompts(model, raters, 40)
    first = build(staff, model, dataset="maintainer/first", validation_fraction=0.25)
    second = build(staff, model, dataset="maintainer/second", validation_fraction=0.25)

    tree = dict(TreeEntry.objects.filter(commit=first.commit).values_list("path", "blob_id"))
    assert tree == dict(TreeEntry.objects.filter(commit=second.commit).values_list("path", "blob_id"))
    files = files_of(first.commit)
    for config in ("sft", "preference", "kto"):
        train = {r["prompt"].lower().rstrip("!") for r in jsonl(files[f"{config}/train.jsonl"])}
        validation = {r["prompt"].lower().rstrip("!") for r in jsonl(files[f"{config}/validation.jsonl"])}
        assert train and validation and not train & validation
        assert len(train | validation) == 40
    counts = first.count_values()
    assert counts["preference_train"] + counts["preference_validation"] == 40
    assert 2 <= counts["preference_validation"] <= 20

    other = build(staff, model, dataset="maintainer/third", validation_fraction=0.25, min_stars=4)
    assert other.status == "done"
    other_rows = jsonl(files_of(other.commit)["kto/train.jsonl"])
    assert {r["label"] for r in other_rows} == {True}  # a thumbs down without stars is not "at least 4 stars"
    # Raters' pseudonyms depend on the filters: not linkable across snapshots built differently.
    first_raters = {p for r in jsonl(files["kto/train.jsonl"]) for p in r["raters"]}
    assert first_raters and not first_raters & {p for r in other_rows for p in r["raters"]}


def test_a_small_snapshot_still_has_a_validation_split(staff, model, raters):
    make_prompts(model, raters, 2)
    snapshot = build(staff, model, validation_fraction=0.01)
    counts = snapshot.count_values()
    assert counts["sft_train"] == 1 and counts["sft_validation"] == 1


def test_opted_out_and_hidden_raters_and_tagged_outputs_are_left_out(staff, model, raters):
    commit = model.refs.get(name="main").commit
    r0, r1, r2, r3 = raters
    with time_machine.travel(DAY, tick=False):
        kept = rate(make_generation(repo=model, commit=commit, prompt="a", text=" x"), r0, "up")
        opted = rate(make_generation(repo=model, commit=commit, prompt="b", text=" y"), r1, "up")
        hidden = rate(make_generation(repo=model, commit=commit, prompt="c", text=" z"), r2, "up")
        harmful = make_generation(repo=model, commit=commit, prompt="d", text=" w")
        tagged = rate(harmful, r3, "up", tags=["harmful"], correction=" safer")
    first = build(staff, model, dataset="maintainer/before", exclude_tags=["harmful"])
    assert set(first.used_ratings.values_list("rating_id", flat=True)) == {kept.pk, opted.pk, hidden.pk, tagged.pk}
    sft = [r["completion"] for r in jsonl(files_of(first.commit).get("sft/train.jsonl", b""))]
    sft += [r["completion"] for r in jsonl(files_of(first.commit).get("sft/validation.jsonl", b""))]
    assert " w" not in sft and " safer" in sft  # the tagged output is out, its correction is in

    services.consent_set(user=r1, opt_out=True)
    rater_hide(user=r2, staff=staff)
    second = build(staff, model, dataset="maintainer/after", exclude_tags=["harmful"])
    assert set(second.used_ratings.values_list("rating_id", flat=True)) == {kept.pk, tagged.pk}
    assert list(selectors.snapshots_with_ratings_of(r1)) == [first]  # what withdrawing consent shows
    with_hidden = build(staff, model, dataset="maintainer/hidden", exclude_hidden_raters=False)
    assert hidden.pk in set(with_hidden.used_ratings.values_list("rating_id", flat=True))


def test_nothing_to_write_is_refused_without_a_commit(staff, model, raters):
    commit = model.refs.get(name="main").commit
    with time_machine.travel(DAY, tick=False):
        rate(make_generation(repo=model, commit=commit, prompt="a", text=" x"), raters[0], "down")
    with pytest.raises(services.BadRequest, match="No ratings of alice/tiny match"):
        services.snapshot_request(
            user=staff, model=model, dataset_id="maintainer/none", filters={"since": "2027-01-01T00:00:00Z"}
        )
    snapshot = build(staff, model, dataset="maintainer/none", thumbs="up")
    assert snapshot.status == "failed"
    assert "1 ratings matched, but none makes a row" in snapshot.error
    assert snapshot.commit is None
    assert not Repository.objects.filter(name="none").exists()


def api_post(client, body, **headers):
    return client.post("/api/v1/feedback-snapshots", json.dumps(body), content_type="application/json", **headers)


def test_who_may_ask_for_a_snapshot(staff, model, raters, alice, client):
    make_prompts(model, raters, 1)
    body = {"model": "alice/tiny", "dataset": "maintainer/api", "thumbs": "any", "min_stars": None}
    assert api_post(client, body).status_code == 401
    assert api_post(client_for(alice), body).status_code == 403  # the model's owner, not staff
    read_token = token_create(user=staff, name="read", scope="read").secret
    assert api_post(client, body, HTTP_AUTHORIZATION=f"Bearer {read_token}").status_code == 403
    token = token_create(user=staff, name="write", scope="write").secret
    answer = api_post(client, body, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert answer.status_code == 202, answer.content
    assert answer.json()["status"] == "queued" and answer.json()["id"]
    snapshot_id = answer.json()["id"]
    assert client.get(f"/api/v1/feedback-snapshots/{snapshot_id}").status_code == 401
    assert client_for(alice).get(f"/api/v1/feedback-snapshots/{snapshot_id}").status_code == 403
    services.snapshot_build(snapshot_id=snapshot_id)
    detail = client_for(staff).get(f"/api/v1/feedback-snapshots/{snapshot_id}").json()
    assert detail["status"] == "done" and detail["dataset"] == "maintainer/api" and len(detail["commit"]) == 40
    assert detail["counts"] == {
        "sft_train": 1,
        "sft_validation": 0,
        "preference_train": 1,
        "preference_validation": 0,
        "kto_train": 2,
        "kto_validation": 0,
    }
    assert client_for(staff).get("/api/v1/feedback-snapshots/999999").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"model": "alice/nope"}, 404, "no model 'alice/nope'"),
        ({"model": "nonsense"}, 400, "owner/name"),
        ({"model": "alice/tiny", "validation_fraction": 1.5}, 400, "'validation_fraction' must be between 0"),
        ({"model": "alice/tiny", "validation_fraction": "lots"}, 400, "'validation_fraction' must be a number"),
        ({"model": "alice/tiny", "validation_fraction": float("nan")}, 400, "not JSON compliant"),
        ({"model": "alice/tiny", "thumbs": "sideways"}, 400, "'thumbs' must be 'up' or 'any'"),
        ({"model": "alice/tiny", "min_stars": 9}, 400, "'min_stars' must be a whole number"),
        ({"model": "alice/tiny", "exclude_tags": ["<script>"]}, 400, "Unknown tag"),
        ({"model": "alice/tiny", "revisions": ["no-such-branch"]}, 400, "has no revision"),
        ({"model": "alice/tiny", "dataset": "alice/theirs"}, 403, "rights to create repositories under 'alice'"),
        ({"model": "alice/tiny", "include_corrections": "yes"}, 400, "must be true or false"),
        ({"model": "alice/tiny", "since": "yesterday"}, 400, "'since' must be a date"),
    ],
)
def test_bad_requests_are_refused_clearly(staff, model, raters, body, status, message):
    make_prompts(model, raters, 1)
    answer = client_for(staff).post(
        "/api/v1/feedback-snapshots", json.dumps(body, allow_nan=True), content_type="application/json"
    )
    assert answer.status_code == status, answer.content
    body = answer.json()
    assert message in body["error"]
    assert not FeedbackSnapshot.objects.exists()


def test_a_day_of_ratings_in_two_clicks_from_the_feedback_tab(staff, model, raters):
    make_prompts(model, raters, 3)
    browser = client_for(staff)
    with time_machine.travel(DAY + dt.timedelta(hours=2), tick=False):
        page = browser.get("/alice/tiny/feedback")
        assert b'id="snapshot-day"' in page.content
        answer = browser.post("/alice/tiny/feedback/snapshots/new", {"preset": "day"})
    snapshot = FeedbackSnapshot.objects.get()
    assert answer.status_code == 302 and answer["Location"] == f"/alice/tiny/feedback/snapshots/{snapshot.pk}"
    assert snapshot.filters["since"] == "2026-03-01T14:00:00+00:00" and snapshot.filters["validation_fraction"] == 0.1
    assert snapshot.filters["include_corrections"] and snapshot.filters["thumbs"] == "any"
    assert snapshot.dataset_name == "maintainer/tiny-feedback"

    polling = browser.get(answer["Location"], HTTP_HX_REQUEST="true")
    assert b'hx-trigger="every 1s"' in polling.content and b"<html" not in polling.content
    services.snapshot_build(snapshot_id=snapshot.pk)
    snapshot.refresh_from_db()
    done = browser.get(answer["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in done  # finished: the fragment stops the polling
    assert f'href="/datasets/maintainer/tiny-feedback/commit/{snapshot.commit.oid}"' in done
    assert browser.get(f"/datasets/maintainer/tiny-feedback/commit/{snapshot.commit.oid}").status_code == 200
    listing = browser.get("/alice/tiny/feedback/snapshots").content.decode()
    assert snapshot.commit.oid[:10] in listing


def test_the_snapshot_form_shows_refusals_escaped(staff, model, raters):
    make_prompts(model, raters, 1)
    browser = client_for(staff)
    form = browser.get("/alice/tiny/feedback/snapshots/new").content.decode()
    assert 'value="maintainer/tiny-feedback"' in form and 'name="include_battles"' in form
    hostile = "maintainer/<script>alert(1)</script>"
    answer = browser.post(
        "/alice/tiny/feedback/snapshots/new",
        {"dataset": hostile, "thumbs": "any", "validation_fraction": "0.1", "include_liked": "on"},
    )
    assert answer.status_code == 400
    body = answer.content.decode()
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    answer = browser.post(
        "/alice/tiny/feedback/snapshots/new",
        {"dataset": "maintainer/x", "thumbs": "any", "validation_fraction": "0.9", "include_liked": "on"},
    )
    assert answer.status_code == 400 and b"less than or equal to 0.5" in answer.content
    # The ratings are from March: a day of ratings finds none, and says so on the form.
    answer = browser.post("/alice/tiny/feedback/snapshots/new", {"preset": "day"})
    assert answer.status_code == 400 and b"No ratings of alice/tiny match these filters" in answer.content
    assert not FeedbackSnapshot.objects.exists()


def test_only_staff_see_and_use_the_snapshot_pages(model, alice, raters):
    owner = client_for(alice)
    assert b'id="snapshot-day"' not in owner.get("/alice/tiny/feedback").content
    assert owner.get("/alice/tiny/feedback/snapshots/new").status_code == 403
    assert owner.post("/alice/tiny/feedback/snapshots/new", {"preset": "day"}).status_code == 403
    assert owner.get("/alice/tiny/feedback/snapshots").status_code == 403
    assert client_for().get("/alice/tiny/feedback/snapshots/new").status_code == 302  # to the login page


def test_withdrawing_consent_shows_the_datasets_that_hold_ones_ratings(staff, model, raters):
    make_prompts(model, raters, 4)
    first = build(staff, model, dataset="maintainer/before")
    rater = raters[0]
    mine = Rating.objects.filter(user=rater).count()
    browser = client_for(rater)
    page = browser.get("/settings/data-use").content.decode()
    assert "A private dataset (snapshot" in page and f'<td class="num">{mine}</td>' in page
    assert "maintainer/before" not in page  # private to its owner: not named to others
    assert browser.post("/settings/data-use", {"training_data_opt_out": "on"}).status_code == 302
    rater.refresh_from_db()
    assert rater.training_data_opt_out
    assert "checked" in browser.get("/settings/data-use").content.decode()
    second = build(staff, model, dataset="maintainer/after")
    assert not second.used_ratings.filter(rating__user=rater).exists()
    assert list(selectors.snapshots_with_ratings_of(rater)) == [first]
    browser.post("/settings/data-use", {})
    rater.refresh_from_db()
    assert not rater.training_data_opt_out


def test_staff_build_a_snapshot_from_the_admin(model, raters, client):
    make_prompts(model, raters, 2)
    admin_user = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    assert client.get("/admin/feedback/feedbacksnapshot/add/").status_code == 200
    form = {
        "model": model.pk,
        "dataset": "",
        "private": "on",
        "thumbs": "any",
        "validation_fraction": "0.1",
        "include_liked": "on",
        "include_corrections": "on",
        "include_pairs": "on",
        "exclude_hidden_raters": "on",
        "other_revisions": "main",
    }
    answer = client.post("/admin/feedback/feedbacksnapshot/add/", form)
    assert answer.status_code == 302, answer.content.decode()[-2000:]
    snapshot = FeedbackSnapshot.objects.get()
    assert snapshot.dataset_name == "root/tiny-feedback" and snapshot.filters["revisions"] == ["main"]
    assert snapshot.filters["include_battles"] is False
    bad = client.post("/admin/feedback/feedbacksnapshot/add/", {**form, "other_revisions": "nope"})
    assert bad.status_code == 200 and b"has no revision" in bad.content
    assert client.get("/admin/feedback/feedbacksnapshot/").status_code == 200
    assert client.get(f"/admin/feedback/feedbacksnapshot/{snapshot.pk}/change/").status_code == 200


def test_a_build_runs_once_and_an_orphaned_one_is_claimed_again(staff, model, raters, monkeypatch):
    make_prompts(model, raters, 2)
    snapshot = services.snapshot_request(user=staff, model=model, dataset_id="maintainer/once", filters={})
    assert services.snapshot_build(snapshot_id=snapshot.pk).status == "done"
    assert services.snapshot_build(snapshot_id=snapshot.pk) is None  # a second delivery of the task: nothing
    commits = set(Repository.objects.get(name="once").commits.values_list("oid", flat=True))

    orphan = services.snapshot_request(user=staff, model=model, dataset_id="maintainer/once", filters={})
    FeedbackSnapshot.objects.filter(pk=orphan.pk).update(status="running", heartbeat_at=DAY)
    with time_machine.travel(DAY + dt.timedelta(minutes=5), tick=False):
        assert services.snapshot_build(snapshot_id=orphan.pk) is None  # still alive, as far as anyone knows
        assert services.snapshots_resend() == 0
    sent = []
    monkeypatch.setattr("feedback.snapshots.tasks.snapshot_build.delay", sent.append)
    assert services.snapshots_resend() == 1 and sent == [orphan.pk]  # beat sends the orphan's build again
    assert services.snapshot_build(snapshot_id=orphan.pk).status == "done"  # its heartbeat went stale: rebuilt
    # The same files again: no new, empty commit; the snapshot points at the commit that holds them.
    assert set(Repository.objects.get(name="once").commits.values_list("oid", flat=True)) == commits
    orphan.refresh_from_db()
    assert orphan.commit_id == FeedbackSnapshot.objects.get(pk=snapshot.pk).commit_id
    assert orphan.used_ratings.count() == snapshot.used_ratings.count() > 0


def test_the_dataset_must_be_writable_and_a_private_one_stays_unnamed(staff, model, raters, alice):
    make_prompts(model, raters, 1)
    make_repo(owner=alice, name="secret", kind="dataset", private=True)
    make_repo(owner=alice, name="public", kind="dataset")
    browser = client_for(staff)

    def ask(dataset):
        body = json.dumps({"model": "alice/tiny", "dataset": dataset})
        return browser.post("/api/v1/feedback-snapshots", body, content_type="application/json")

    hidden, missing = ask("alice/secret"), ask("alice/missing")
    assert hidden.status_code == missing.status_code == 403
    assert hidden.json()["error"] == missing.json()["error"]  # nothing tells that alice/secret exists
    assert ask("alice/public").json()["error"] == "You don't have write access to alice/public."
    assert ask("maintainer/bad name!").status_code == 400
    organization = organization_create(creator=staff, name="lab")
    answer = ask("lab/feedback")  # an organisation staff may write to: the build creates the dataset there
    assert answer.status_code == 202
    snapshot = services.snapshot_build(snapshot_id=answer.json()["id"])
    assert snapshot.status == "done" and snapshot.dataset.organization == organization
    assert snapshot.dataset.private  # created private unless asked otherwise


def test_snapshot_lists_cost_the_same_queries_however_many(staff, model, raters, django_assert_max_num_queries):
    make_prompts(model, raters, 2)
    rater_page, staff_page = client_for(raters[0]), client_for(staff)
    build(staff, model, dataset="maintainer/one")
    with CaptureQueriesContext(connection) as one_settings:
        assert rater_page.get("/settings/data-use").status_code == 200
    settings_queries = len(one_settings)
    with CaptureQueriesContext(connection) as one_list:
        assert staff_page.get("/alice/tiny/feedback/snapshots").status_code == 200
    list_queries = len(one_list)  # counted at once: each request clears the query log the context reads
    for name in ("two", "three", "four"):
        build(staff, model, dataset=f"maintainer/{name}")
    with django_assert_max_num_queries(settings_queries):
        page = rater_page.get("/settings/data-use").content.decode()
    assert page.count("A private dataset (snapshot") == 4
    public = services.snapshot_request(user=staff, model=model, dataset_id="maintainer/open", filters={}, private=False)
    services.snapshot_build(snapshot_id=public.pk)
    public.refresh_from_db()
    page = rater_page.get("/settings/data-use").content.decode()
    assert f'href="/datasets/maintainer/open/commit/{public.commit.oid}"' in page  # readable: named and linked
    with django_assert_max_num_queries(list_queries):
        assert staff_page.get("/alice/tiny/feedback/snapshots").content.decode().count("maintainer/") >= 4
