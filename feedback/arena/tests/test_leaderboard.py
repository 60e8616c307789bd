"""The leaderboard fitted from stored votes: shape, ranks, what counts, voters flagged and excluded."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from django.utils import timezone

from conftest import client_for, make_commit, make_repo, make_user
from feedback.arena import bradley_terry as bt
from feedback.arena import services
from feedback.arena.leaderboard import head_to_head, leaderboard_refit
from feedback.arena.models import Battle, BattleVote, LeaderboardFit, VoterReview
from feedback.services import rater_hide
from inference.models import Generation

pytestmark = pytest.mark.django_db
PROMPT_NUMBERS = itertools.count()


def revisions(owner, count: int, *, name: str = "lm", private: bool = False):
    """A model with `count` commits on main (battles are written directly here: the files need not run)."""
    repo = make_repo(owner=owner, name=name, private=private)
    return repo, [
        make_commit(repo=repo, author=owner, files={"weights.txt": str(k).encode()}, title=f"r{k}")
        for k in range(count)
    ]


def make_battles(repo, pairs: list[tuple], *, prompt: str | None = None) -> list[Battle]:
    """Finished, open battles for (commit_a, commit_b) pairs, each on its own prompt unless one is given."""
    now = timezone.now()
    prompts = [prompt or f"prompt {next(PROMPT_NUMBERS)}" for _ in pairs]
    fields = dict(
        repository=repo, status="done", text="An answer.", max_new_tokens=8, temperature=0.8, top_p=1.0, top_k=0,
        repetition_penalty=1.0, seed=1, created_at=now, finished_at=now, source="batch",
    )  # fmt: skip
    generations = Generation.objects.bulk_create(
        [Generation(commit=c, revision=c.oid, prompt="p", **fields) for pair in pairs for c in pair]
    )
    battles = [
        Battle(
            prompt=prompts[k],
            prompt_hash=services.prompt_hash(prompts[k]),
            generation_a=generations[2 * k],
            generation_b=generations[2 * k + 1],
            repository_a=repo,
            repository_b=repo,
            commit_a=a,
            commit_b=b,
            status=Battle.Status.READY,
            created_at=now,
        )
        for k, (a, b) in enumerate(pairs)
    ]
    return Battle.objects.bulk_create(battles)


def vote_all(battles, user, winners) -> None:
    now = timezone.now()
    BattleVote.objects.bulk_create(
        [BattleVote(battle=b, user=user, winner=w, created_at=now) for b, w in zip(battles, winners, strict=True)]
    )


def simulate(battles, commits, ratings, voters, rng) -> None:
    """Each voter votes on every battle as the Bradley–Terry model with `ratings` says."""
    index = {c.pk: k for k, c in enumerate(commits)}
    theta = np.asarray(ratings, dtype=float) / bt.SCALE
    for voter in voters:
        winners = []
        for battle in battles:
            p = bt.win_probability(theta, np.array([index[battle.commit_a_id]]), np.array([index[battle.commit_b_id]]))
            winners.append("a" if rng.random() < p[0] else "b")
        vote_all(battles, voter, winners)


def board(client, **params) -> list[dict]:
    response = client.get("/api/v1/leaderboard", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_the_leaderboard_orders_revisions_by_strength_with_intervals_and_counts(alice, settings):
    settings.FLYWHEEL_ARENA_MIN_BATTLES = 50
    repo, commits = revisions(alice, 3)
    pairs = [(commits[a], commits[b]) for a, b in ((0, 1), (1, 2), (0, 2)) for _ in range(30)]
    battles = make_battles(repo, pairs)
    simulate(battles, commits, [0, 200, 400], [make_user(f"v{k}") for k in range(3)], np.random.default_rng(1))

    leaderboard_refit(rounds=200, seed=1)
    rows = board(client_for())

    assert [r["commit"] for r in rows] == [c.oid for c in reversed(commits)]
    assert set(rows[0]) == {"model", "commit", "rating", "ci_low", "ci_high", "rank", "battles"}
    assert all(r["model"] == "alice/lm" and r["ci_low"] < r["rating"] < r["ci_high"] for r in rows)
    assert [r["battles"] for r in rows] == [180, 180, 180]  # 60 battles x 3 voters each
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert np.mean([r["rating"] for r in rows]) == pytest.approx(1000, abs=0.1)


def test_revisions_below_the_minimum_battles_are_listed_unranked(alice, settings):
    settings.FLYWHEEL_ARENA_MIN_BATTLES = 10
    repo, commits = revisions(alice, 3)
    battles = make_battles(repo, [(commits[0], commits[1])] * 12 + [(commits[1], commits[2])] * 3)
    vote_all(battles, make_user("v"), ["a"] * 15)

    leaderboard_refit(rounds=50)
    ranks = {r["commit"]: r["rank"] for r in board(client_for())}

    assert ranks[commits[0].oid] == 1 and ranks[commits[1].oid] is not None and ranks[commits[2].oid] is None


def test_votes_by_maintainers_and_hidden_raters_do_not_count(alice, bob):
    repo, commits = revisions(alice, 2)
    battles = make_battles(repo, [(commits[0], commits[1])] * 10)
    spammer = make_user("spammer")
    vote_all(battles, alice, ["a"] * 10)
    BattleVote.objects.filter(user=alice).update(by_member=True)
    vote_all(battles, spammer, ["a"] * 10)
    rater_hide(user=spammer, staff=bob)
    vote_all(battles[:4], bob, ["b"] * 4)

    leaderboard_refit(rounds=50)

    fit = LeaderboardFit.objects.get(scope="")
    assert (fit.votes, fit.votes_left_out) == (4, 20)
    rows = board(client_for())
    assert rows[0]["commit"] == commits[1].oid and rows[0]["battles"] == 4


def test_battles_on_one_repeated_prompt_weigh_no_more_than_a_few(alice, settings):
    settings.FLYWHEEL_ARENA_PROMPT_REPEATS = 2
    repo, commits = revisions(alice, 2)
    farmed = make_battles(repo, [(commits[0], commits[1])] * 40, prompt="Say  HI")
    varied = make_battles(repo, [(commits[0], commits[1])] * 10)
    voter = make_user("v")
    vote_all(farmed, voter, ["a"] * 40)
    vote_all(varied, voter, ["b"] * 7 + ["a"] * 3)
    assert services.prompt_hash("say hi") == services.prompt_hash("Say  HI")  # case and spacing folded

    leaderboard_refit(rounds=50)
    rows = {r["commit"]: r for r in board(client_for())}

    # 40 battles of one prompt weigh 2: 2 + 3 wins for commits[0] against 7 for commits[1].
    assert rows[commits[1].oid]["rating"] > rows[commits[0].oid]["rating"]
    assert rows[commits[0].oid]["battles"] == 50


def test_a_planted_adversary_is_flagged_and_excluding_them_restores_the_true_order(alice, bob):
    """Honest voters follow known strengths; one voter piles 170 votes for the weaker of a close pair, which
    turns the fitted order around. The sequential test flags them (and no honest voter); excluding them
    refits to the true order."""
    rng = np.random.default_rng(5)
    repo, commits = revisions(alice, 4)
    true_ratings = [0, 150, 300, 450]
    pairs = [(commits[a], commits[b]) for a in range(4) for b in range(a + 1, 4) for _ in range(20)]
    honest = [make_user(f"honest{k}") for k in range(10)]
    simulate(make_battles(repo, pairs), commits, true_ratings, honest, rng)
    adversary = make_user("mallory")
    piled = make_battles(repo, [(commits[3], commits[2])] * 170)
    vote_all(piled, adversary, ["b"] * 170)

    leaderboard_refit(rounds=100, seed=2)

    ratings = {r["commit"]: r["rating"] for r in board(client_for())}
    assert ratings[commits[2].oid] > ratings[commits[3].oid]  # the adversary won the pair
    flagged = VoterReview.objects.get(status=VoterReview.Status.FLAGGED)
    assert flagged.user == adversary and flagged.agreement < 0.1 < 0.5 < flagged.expected_agreement
    assert VoterReview.objects.count() == 1

    services.voter_exclude(user=adversary, staff=bob, reason="reversed votes")
    leaderboard_refit(rounds=100, seed=2)

    rows = board(client_for())
    assert [r["commit"] for r in rows] == [c.oid for c in reversed(commits)]
    assert LeaderboardFit.objects.get(scope="").votes_left_out == 170
    assert VoterReview.objects.get(user=adversary).status == VoterReview.Status.EXCLUDED


def test_a_model_has_its_own_leaderboard_of_its_revisions(alice):
    repo, commits = revisions(alice, 2)
    other, other_commits = revisions(alice, 2, name="other")
    vote_all(make_battles(repo, [(commits[0], commits[1])] * 5), make_user("v"), ["a"] * 5)
    vote_all(make_battles(other, [(other_commits[0], other_commits[1])] * 5), make_user("w"), ["b"] * 5)

    leaderboard_refit(rounds=50)

    assert {r["commit"] for r in board(client_for(), model="alice/lm")} == {c.oid for c in commits}
    assert len(board(client_for())) == 4
    assert client_for().get("/api/v1/leaderboard", {"model": "alice/missing"}).status_code == 404


def test_private_revisions_are_left_off_for_those_who_cannot_see_them(alice, bob):
    repo, commits = revisions(alice, 2, private=True)
    vote_all(make_battles(repo, [(commits[0], commits[1])] * 5), alice, ["a"] * 5)

    leaderboard_refit(rounds=50)

    assert board(client_for(bob)) == []
    assert len(board(client_for(alice))) == 2
    assert client_for(bob).get("/api/v1/leaderboard", {"model": "alice/lm"}).status_code == 404


def test_ranks_count_only_the_revisions_the_viewer_can_see(alice, bob, settings):
    settings.FLYWHEEL_ARENA_MIN_BATTLES = 50
    _secret, (hidden,) = revisions(alice, 1, name="secret", private=True)
    public, (first, second) = revisions(bob, 2, name="open")
    commits = [hidden, first, second]
    battles = make_battles(public, [(hidden, first), (first, second), (hidden, second)] * 30)
    simulate(battles, commits, [400, 200, 0], [make_user(f"v{k}") for k in range(3)], np.random.default_rng(1))

    leaderboard_refit(rounds=100, seed=1)

    assert [(r["commit"], r["rank"]) for r in board(client_for(alice))] == [
        (hidden.oid, 1), (first.oid, 2), (second.oid, 3)
    ]  # fmt: skip
    assert [(r["commit"], r["rank"]) for r in board(client_for(bob))] == [(first.oid, 1), (second.oid, 2)]


def test_the_leaderboard_api_costs_the_same_few_queries_however_long_it_is(alice, django_assert_max_num_queries):
    repo, commits = revisions(alice, 8)
    pairs = [(commits[k], commits[(k + 1) % 8]) for k in range(8)] * 3
    vote_all(make_battles(repo, pairs), make_user("v"), ["a"] * len(pairs))
    leaderboard_refit(rounds=20)

    with django_assert_max_num_queries(3):
        assert len(board(client_for())) == 8


def test_head_to_head_recommends_only_when_the_interval_excludes_no_better(alice, settings):
    settings.FLYWHEEL_ARENA_MIN_BATTLES = 10
    repo, (parent, child) = revisions(alice, 2)
    clear = make_battles(repo, [(child, parent)] * 40)
    vote_all(clear, make_user("v"), ["a"] * 32 + ["b"] * 8)

    result = head_to_head(new=child, old=parent)

    assert (result.battles, result.wins, result.losses) == (40, 32, 8)
    assert result.ci_low > 0 and result.recommend
    assert result.difference == pytest.approx(400 / np.log(10) * np.log(32 / 8), abs=3)

    close = head_to_head(new=parent, old=child)
    assert close.ci_high < 0 and not close.recommend
    assert head_to_head(new=child, old=commits_none(repo)).battles == 0


def commits_none(repo):
    return make_commit(repo=repo, author=None, files={"x.txt": b"x"}, title="unbattled")


@pytest.mark.parametrize("count", [4, 12])
def test_the_leaderboard_page_costs_the_same_few_queries_however_long_it_is(
    alice, count, django_assert_max_num_queries
):
    repo, commits = revisions(alice, count)
    pairs = [(commits[k], commits[(k + 1) % count]) for k in range(count)] * 2
    vote_all(make_battles(repo, pairs), make_user("v"), ["a"] * len(pairs))
    leaderboard_refit(rounds=20)
    client = client_for(alice)

    with django_assert_max_num_queries(6):
        page = client.get("/arena/leaderboard").content.decode()

    assert page.count('data-model="alice/lm"') == count
