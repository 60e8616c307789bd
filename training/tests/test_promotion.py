"""Promotion and rollback: main gets a run's files (fast-forward or a new commit), every move recorded,
new generations pinned to the promoted revision, refusals with reasons."""

from __future__ import annotations

import pytest

from conftest import make_commit
from inference.services import generation_request
from models_hub.errors import BadRequest, Conflict, Forbidden
from models_hub.models import TreeEntry
from training.models import Promotion
from training.promotions import promotion_rollback, run_is_on_main, training_run_promote
from training.tests.runs import head_of, make_model_and_dataset, make_run

pytestmark = pytest.mark.django_db


def files_of(commit) -> dict[str, str]:
    return dict(TreeEntry.objects.filter(commit=commit).values_list("path", "blob_id"))


def test_promoting_when_main_has_not_moved_fast_forwards_to_the_run_commit(staff):
    model, dataset = make_model_and_dataset(staff)
    base = head_of(model)
    run = make_run(model=model, dataset=dataset, user=staff)

    promotion = training_run_promote(run=run, user=staff, reason="Lower eval loss")

    assert head_of(model) == run.output_commit  # no new commit: main is the run's commit itself
    assert run_is_on_main(run)
    assert (promotion.kind, promotion.fast_forward) == ("promote", True)
    assert (promotion.from_commit, promotion.to_commit, promotion.run, promotion.user) == (
        base,
        run.output_commit,
        run,
        staff,
    )
    assert promotion.reason == "Lower eval loss"
    assert promotion.evidence["metrics"]["after"]["eval_loss"] == 2.1
    assert promotion.evidence["dataset"] == f"{dataset.repo_id}@{run.dataset_commit.oid}"
    model.refresh_from_db()
    assert model.license == "mit"  # the listings read the promoted card


def test_promoting_after_main_moved_makes_a_new_commit_with_the_run_files(staff):
    model, dataset = make_model_and_dataset(staff)
    run = make_run(model=model, dataset=dataset, user=staff)
    moved = make_commit(repo=model, author=staff, files={"notes.txt": b"later"}, title="Add notes")

    promotion = training_run_promote(run=run, user=staff, reason="Better samples")

    head = head_of(model)
    assert head not in (moved, run.output_commit) and head.parent == moved  # on top of main: it can be reverted
    assert files_of(head) == files_of(run.output_commit)  # exactly the run's files (notes.txt gone)
    assert head.title == f"Promote run-{run.pk} ({run.output_commit.short_oid})"
    assert head.description == "Better samples" and head.author == staff
    assert (promotion.fast_forward, promotion.from_commit, promotion.to_commit) == (False, moved, head)
    assert promotion.source_commit == run.output_commit


@pytest.mark.parametrize("status", ["failed", "cancelled", "running", "queued"])
def test_promoting_a_run_that_did_not_succeed_is_refused(staff, status):
    model, dataset = make_model_and_dataset(staff)
    base = head_of(model)
    run = make_run(model=model, dataset=dataset, user=staff, status=status)

    with pytest.raises(Conflict, match="only a run that succeeded can be promoted"):
        training_run_promote(run=run, user=staff, reason="why not")
    assert head_of(model) == base and not Promotion.objects.exists()


def test_only_staff_promote_and_a_reason_is_required(staff, alice):
    model, dataset = make_model_and_dataset(alice)  # alice owns the model, yet is not staff
    run = make_run(model=model, dataset=dataset, user=staff)
    with pytest.raises(Forbidden, match="Only staff"):
        training_run_promote(run=run, user=alice, reason="mine")
    with pytest.raises(BadRequest, match="reason"):
        training_run_promote(run=run, user=staff, reason="   ")
    with pytest.raises(BadRequest, match="too long"):
        training_run_promote(run=run, user=staff, reason="x" * 5000)
    assert not Promotion.objects.exists()


def test_promoting_twice_is_refused_with_a_reason(staff):
    model, dataset = make_model_and_dataset(staff)
    run = make_run(model=model, dataset=dataset, user=staff)
    training_run_promote(run=run, user=staff, reason="first")
    with pytest.raises(Conflict, match="already holds"):
        training_run_promote(run=run, user=staff, reason="again")
    assert Promotion.objects.count() == 1


def test_rollback_restores_the_previous_files_in_a_new_commit_and_is_recorded(staff):
    model, dataset = make_model_and_dataset(staff)
    base = head_of(model)
    run = make_run(model=model, dataset=dataset, user=staff)
    promotion = training_run_promote(run=run, user=staff, reason="promote")

    rollback = promotion_rollback(repo=model, to_commit=promotion.from_commit, user=staff, reason="Raters dislike it")

    head = head_of(model)
    assert head.parent == run.output_commit and files_of(head) == files_of(base)
    assert head.title == f"Roll back to {base.short_oid}"
    assert (rollback.kind, rollback.from_commit, rollback.to_commit, rollback.source_commit) == (
        "rollback",
        run.output_commit,
        head,
        base,
    )
    assert list(Promotion.objects.for_model(model)) == [rollback, promotion]
    assert not run_is_on_main(run)  # rolled back: the run may be promoted again
    # and forward again: the run can be promoted once more, now as a new commit
    again = training_run_promote(run=run, user=staff, reason="it was fine")
    assert not again.fast_forward and files_of(head_of(model)) == files_of(run.output_commit)


def test_rollback_refuses_commits_main_never_held_and_other_repositories(staff):
    model, dataset = make_model_and_dataset(staff)
    run = make_run(model=model, dataset=dataset, user=staff)  # its commit is on run-<id>, never on main
    with pytest.raises(BadRequest, match="never on main"):
        promotion_rollback(repo=model, to_commit=run.output_commit, user=staff, reason="r")
    with pytest.raises(BadRequest, match="not a commit of"):
        promotion_rollback(repo=model, to_commit=head_of(dataset), user=staff, reason="r")
    with pytest.raises(Conflict, match="already holds"):
        promotion_rollback(repo=model, to_commit=head_of(model), user=staff, reason="r")
    assert not Promotion.objects.exists()


def test_new_generations_use_the_promoted_revision(staff, tiny_model_files):
    model, dataset = make_model_and_dataset(staff)
    make_commit(repo=model, author=staff, files=tiny_model_files, title="Real weights")
    run = make_run(model=model, dataset=dataset, user=staff, weights=tiny_model_files["model.safetensors"])
    before = generation_request(user=staff, repo=model, prompt="Once")

    training_run_promote(run=run, user=staff, reason="ship it")

    after = generation_request(user=staff, repo=model, prompt="Once")
    assert before.commit != after.commit == run.output_commit == head_of(model)
    assert before.revision == after.revision == "main"
