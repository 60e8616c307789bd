"""The arena and the rest of the loop: blind battles opened for a succeeded training run, the head-to-head
on the run page and in a promotion's evidence, and battle outcomes as preference pairs in feedback snapshots."""

from __future__ import annotations

import json

import pytest

from conftest import client_for, make_user
from feedback.arena.models import ArenaPin, Battle
from feedback.arena.promotion import run_battles_open
from feedback.arena.services import battle_refresh, battle_seen, battle_vote
from feedback.arena.tests.conftest import finish
from feedback.snapshots import services as snapshots
from feedback.tests.test_snapshots import files_of, jsonl
from inference.tests.conftest import make_model_repo
from models_hub.services import branch_fast_forward
from training.models import Promotion, TrainingRun
from training.tests.datasets import make_dataset_repo, sft_row, snapshot_files
from training.tests.runs import head_of, make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return make_user("staffer", is_staff=True)


@pytest.fixture
def run(alice, staff, tiny_model_files) -> TrainingRun:
    model = make_model_repo(owner=alice, files=tiny_model_files)
    rows = [sft_row(f"Tell a story about animal {i}.", " Once upon a time.") for i in range(8)]
    dataset = make_dataset_repo(owner=alice, files=snapshot_files(config="sft", train=rows, validation=rows[:3]))
    return make_run(
        model=model, dataset=dataset, user=staff, samples=[{"prompt": "A sample prompt.", "parent": "", "child": ""}]
    )


def vote(battles, voters, picks_run: int) -> None:
    """Each voter votes on every battle: the first `picks_run` voters for the run's answer, the rest for main's."""
    for k, voter in enumerate(voters):
        for battle in battles:
            battle = battle_refresh(battle)
            battle_seen(battle=battle, user=voter)
            run_side = "a" if battle.commit_a_id == battle.pin.commit_a_id else "b"
            battle_vote(battle=battle, user=voter, winner=run_side if k < picks_run else {"a": "b", "b": "a"}[run_side])


def test_a_succeeded_run_opens_blind_battles_against_main_on_held_out_prompts(run):
    pin = run_battles_open(run)

    main = head_of(run.base_repository)
    assert (pin.commit_a, pin.commit_b, pin.training_run_id) == (run.output_commit, main, run.pk)
    battles = list(Battle.objects.filter(pin=pin))
    assert sorted(b.prompt for b in battles) == [
        "A sample prompt.",
        *(f"Tell a story about animal {i}." for i in range(3)),
    ]
    assert all({b.commit_a, b.commit_b} == {run.output_commit, main} for b in battles)
    assert all(b.created_by is None and b.generation_a.source == "batch" for b in battles)

    assert run_battles_open(run) == pin  # twice: the same pin, no second battle per prompt
    assert Battle.objects.filter(pin=pin).count() == 4 and ArenaPin.objects.count() == 1


def test_no_battles_for_a_run_that_failed_or_that_main_already_holds(alice, staff, run):
    failed = make_run(model=run.base_repository, dataset=run.dataset_repository, user=staff, status="failed")
    assert run_battles_open(failed) is None
    main = head_of(run.base_repository)
    branch_fast_forward(repo=run.base_repository, branch="main", to_commit=run.output_commit, expected_oid=main.oid)
    assert run_battles_open(run) is None
    assert not Battle.objects.exists()


def test_the_run_page_shows_the_head_to_head_and_recommends_promotion_only_when_people_prefer_it(run, staff):
    pin = run_battles_open(run)
    battles = list(Battle.objects.filter(pin=pin))
    for battle in battles:
        finish(battle, text_a="First answer.", text_b="Second answer.")
    page = client_for(staff).get(f"/training/runs/{run.pk}").content.decode()
    assert "What people say" in page and "Not enough votes yet" in page and "data-h2h-vote" in page

    vote(battles, [make_user(f"voter{k}") for k in range(6)], picks_run=5)  # 20 of 24 votes for the run

    page = client_for(staff).get(f"/training/runs/{run.pk}").content.decode()
    assert "data-h2h-recommend" in page and "24 votes" in page and "20 won" in page
    assert (
        '<svg class="h2h-chart"' in page and "style=" not in page.split('id="head-to-head"')[1].split("</section>")[0]
    )
    response = client_for(staff).post(f"/training/runs/{run.pk}/promote", {"reason": "People prefer it."})
    assert response.status_code == 302
    evidence = Promotion.objects.get(run=run).evidence["head_to_head"]
    assert evidence["recommend"] is True and evidence["battles"] == 24 and evidence["ci_low"] > 0
    assert evidence["against"] == pin.commit_b.oid


def test_a_split_vote_is_not_a_recommendation_but_staff_may_still_promote_with_a_reason(run, staff):
    pin = run_battles_open(run)
    battles = list(Battle.objects.filter(pin=pin))
    for battle in battles:
        finish(battle, text_a="First answer.", text_b="Second answer.")
    vote(battles, [make_user(f"voter{k}") for k in range(6)], picks_run=3)

    page = client_for(staff).get(f"/training/runs/{run.pk}").content.decode()
    assert "Not recommended" in page and "data-h2h-recommend" not in page
    client_for(staff).post(f"/training/runs/{run.pk}/promote", {"reason": "Lower loss; the vote is even."})
    assert Promotion.objects.get(run=run).evidence["head_to_head"]["recommend"] is False


def test_votes_by_the_models_maintainers_do_not_move_the_head_to_head(run, alice, staff):
    pin = run_battles_open(run)
    battles = list(Battle.objects.filter(pin=pin))
    for battle in battles:
        finish(battle, text_a="First answer.", text_b="Second answer.")
    vote(battles, [alice], picks_run=1)  # alice owns the model

    page = client_for(staff).get(f"/training/runs/{run.pk}").content.decode()
    assert "0 votes" in page


def test_battle_outcomes_become_preference_pairs_in_a_snapshot(alice, staff, tiny_model_files):
    from feedback.arena.tests.conftest import two_revision_model

    model = two_revision_model(owner=alice, files=tiny_model_files)
    voters = [make_user(f"voter{k}") for k in range(3)]
    client = client_for(voters[0])
    response = client.post(
        "/api/v1/battles",
        json.dumps({"prompt": "Tell me a story.", "models": ["alice/tiny@v1", "alice/tiny"]}),
        content_type="application/json",
    )
    battle = Battle.objects.get(pk=response.json()["id"])
    finish(battle, text_a=" The cat sat.", text_b=" No.")
    tie = Battle.objects.get(
        pk=client.post(
            "/api/v1/battles",
            json.dumps({"prompt": "Another one.", "models": ["alice/tiny@v1", "alice/tiny"]}),
            content_type="application/json",
        ).json()["id"]
    )
    finish(tie, text_a=" A.", text_b=" B.")
    for voter, winner in zip(voters, ["a", "a", "b"], strict=True):
        for each, pick in ((battle, winner), (tie, "tie")):
            battle_seen(battle=battle_refresh(each), user=voter)
            battle_vote(battle=each, user=voter, winner=pick)
    opted_out = make_user("private")
    opted_out.training_data_opt_out = True
    opted_out.save()
    battle_seen(battle=battle, user=opted_out)
    battle_vote(battle=battle, user=opted_out, winner="b")

    snapshot = snapshots.snapshot_request(
        user=staff, model=model, dataset_id="staffer/arena-feedback", filters={"validation_fraction": 0.0}
    )
    snapshots.snapshot_build(snapshot_id=snapshot.pk)
    snapshot.refresh_from_db()

    assert snapshot.status == "done", snapshot.error
    rows = [r for r in jsonl(files_of(snapshot.commit)["preference/train.jsonl"]) if r["source"] == "battle"]
    assert len(rows) == 1  # the tie prefers nothing
    row = rows[0]
    assert (row["prompt"], row["chosen"], row["rejected"]) == ("Tell me a story.", " The cat sat.", " No.")
    assert sorted(row["generation_ids"]) == sorted([str(battle.generation_a_id), str(battle.generation_b_id)])
    assert sorted(row["model_commits"]) == sorted([battle.commit_a.oid, battle.commit_b.oid])
    assert len(row["raters"]) == 2 and row["agreement"] == pytest.approx(2 / 3)
    assert row["rating_ids"] == []
