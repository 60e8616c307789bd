"""The arena in headless Chromium with a real worker: write a prompt, watch two anonymous answers arrive, vote
from the keyboard, see who was who, then find the pair on the leaderboard (refitted by the worker)."""

from __future__ import annotations

import re

import pytest

from conftest import make_user
from feedback.arena.models import Battle, BattleVote, LeaderboardFit
from feedback.arena.tests.conftest import two_revision_model
from tests.conftest import wait_for
from tests.test_browser import SHOTS, log_in
from tests.test_browser_csp import RECORD_VIOLATIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_play_a_battle_vote_see_the_reveal_and_find_the_pair_on_the_leaderboard(
    page, live_server, celery_worker, alice, bob, tiny_model_files
):
    model = two_revision_model(owner=alice, files=tiny_model_files)
    commits = {model.refs.get(name="v1").commit.oid, model.refs.get(name="main").commit.oid}
    log_in(page, live_server, bob)
    page.add_init_script(RECORD_VIOLATIONS)

    page.goto("/arena")
    page.fill("#id_prompt", "Once upon a time")
    page.keyboard.press("Control+Enter")  # two revisions are drawn: the model's v1 and main

    page.wait_for_selector("[data-vote-form]", timeout=60_000)
    battle = Battle.objects.get()
    assert {battle.commit_a.oid, battle.commit_b.oid} == commits and battle.status == "ready"
    assert page.url.endswith(f"/arena/{battle.pk}")
    blind = page.inner_text("#battle")
    assert "alice/tiny" not in blind and battle.commit_a.oid[:7] not in blind
    # HTML parsing turns CR LF and a lone CR into LF (a random model emits both).
    assert page.text_content("[data-side=a] [data-text]") == re.sub("\r\n?", "\n", battle.generation_a.text)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "arena-battle.png"), full_page=True)

    page.keyboard.press("b")

    page.wait_for_selector("[data-result]")
    assert BattleVote.objects.get().winner == "b"
    assert "B is better" in page.inner_text("[data-result]")
    reveal_a, reveal_b = page.inner_text("[data-side=a] [data-reveal]"), page.inner_text("[data-side=b] [data-reveal]")
    assert "alice/tiny" in reveal_a and battle.commit_a.oid[:7] in reveal_a
    assert "alice/tiny" in reveal_b and battle.commit_b.oid[:7] in reveal_b
    page.screenshot(path=str(SHOTS / "arena-reveal.png"), full_page=True)

    # The vote queued a refit; the worker fits the leaderboard.
    assert wait_for(lambda: LeaderboardFit.objects.filter(scope="", votes=1).exists(), timeout=60)
    page.goto("/arena/leaderboard")
    rows = page.locator("#leaderboard-table tbody tr")
    assert rows.count() == 2
    assert {rows.nth(k).get_attribute("data-commit") for k in range(2)} == commits
    assert page.evaluate("!!document.getElementById('chart-leaderboard').chart")
    winner = battle.commit_b.oid
    assert rows.nth(0).get_attribute("data-commit") == winner  # the one voted better rates higher
    page.screenshot(path=str(SHOTS / "arena-leaderboard.png"), full_page=True)
    assert page.evaluate("window.__cspViolations") == []


def test_a_run_page_shows_its_head_to_head_against_its_parent(page, live_server, alice, tiny_model_files):
    from feedback.arena.promotion import run_battles_open
    from feedback.arena.tests.conftest import finish
    from feedback.arena.tests.test_integration import vote
    from inference.tests.conftest import make_model_repo
    from training.tests.datasets import make_dataset_repo, sft_row, snapshot_files
    from training.tests.runs import make_run

    staff = make_user("staffer", is_staff=True)
    model = make_model_repo(owner=alice, files=tiny_model_files)
    rows = [sft_row(f"Tell a story about animal {i}.", " Once upon a time.") for i in range(8)]
    dataset = make_dataset_repo(owner=alice, files=snapshot_files(config="sft", train=rows, validation=rows[:4]))
    run = make_run(model=model, dataset=dataset, user=staff)
    pin = run_battles_open(run)
    battles = list(Battle.objects.filter(pin=pin))
    for battle in battles:
        finish(battle, text_a="First answer.", text_b="Second answer.")
    vote(battles, [make_user(f"voter{k}") for k in range(5)], picks_run=5)
    log_in(page, live_server, staff)
    page.add_init_script(RECORD_VIOLATIONS)

    page.goto(f"/training/runs/{run.pk}")

    panel = page.locator("#head-to-head")
    assert "20 votes: 20 won" in panel.inner_text()
    assert panel.locator("[data-h2h-recommend]").is_visible()
    assert float(panel.locator("[data-h2h-difference]").inner_text()) > 0
    assert panel.locator("svg.h2h-chart rect").count() == 1
    panel.scroll_into_view_if_needed()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "arena-run-head-to-head.png"), full_page=True)
    assert page.evaluate("window.__cspViolations") == []
