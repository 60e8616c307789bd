"""Feedback dashboards: who sees them, the numbers on a small known data set, and a query bound."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from accounts import services as account_services
from conftest import client_for, make_commit, make_repo, make_user
from feedback.models import Rating, RatingTag
from feedback.services import RatingInput, rater_hide, rating_submit
from feedback.stats import krippendorff_alpha
from inference.models import Generation
from models_hub import services as hub_services

pytestmark = pytest.mark.django_db

DAY_1 = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)
DAY_2 = dt.datetime(2025, 3, 2, 12, tzinfo=dt.UTC)
TAGS = {"helpful": "Helpful", "incorrect": "Incorrect", "too-long": "Too long"}


def ensure_tags() -> None:
    # A transactional test elsewhere may have flushed the tags the data migration adds.
    for position, (slug, label) in enumerate(TAGS.items()):
        RatingTag.objects.get_or_create(slug=slug, defaults={"label": label, "position": position})


def make_generation(*, repo, commit, user=None, text: str = "An output.") -> Generation:
    now = timezone.now()
    return Generation.objects.create(
        user=user, repository=repo, commit=commit, revision=commit.oid, source="batch", prompt="Once", text=text,
        status="done", max_new_tokens=8, temperature=0.8, top_p=1.0, top_k=0, repetition_penalty=1.0, seed=1,
        created_at=now, finished_at=now,
    )  # fmt: skip


def rate(generation: Generation, user, thumb: str = "", stars: int | None = None, tags=()) -> Rating:
    rating, _ = rating_submit(generation=generation, user=user, data=RatingInput(thumb=thumb, stars=stars, tags=tags))
    return rating


@pytest.fixture
def rated_model(alice, bob, charlie):
    """alice/tiny: v0.1 (two outputs, rated on day 1) and main (three outputs, rated on day 2).

    Counted: 8 ratings by bob, charlie and dave. alice's own rating is a maintainer's; erin is a hidden rater.
    """
    ensure_tags()
    dave, erin = make_user("dave"), make_user("erin")
    repo = make_repo(owner=alice)
    first = make_commit(repo=repo, author=alice, files={"a.txt": b"one"})
    hub_services.tag_create(repo=repo, name="v0.1", revision=first.oid)
    second = make_commit(repo=repo, author=alice, files={"a.txt": b"two"})
    g1, g2 = (make_generation(repo=repo, commit=first) for _ in range(2))
    g3, g4, _g5 = (make_generation(repo=repo, commit=second) for _ in range(3))
    with time_machine.travel(DAY_1, tick=False):
        rate(g1, bob, "up", 4, ["helpful"])
        rate(g1, charlie, "up", 5)
        rate(g2, bob, "down", 2, ["incorrect"])
        rate(g2, charlie, "down", 1, ["incorrect", "too-long"])
    with time_machine.travel(DAY_2, tick=False):
        rate(g3, bob, "up", 5, ["helpful"])
        rate(g3, charlie, "up", 4)
        rate(g3, dave, "down", 3, ["too-long"])
        rate(g4, bob, "up", 5)
        rate(g3, alice, "down", 1)
        rate(g4, erin, "down", 1)
    rater_hide(user=erin, staff=alice, reason="spam")
    return repo, first, second


def figures(response) -> dict:
    summary = response.context["summary"]
    return {
        "generations": summary.generations,
        "ratings": summary.ratings,
        "raters": summary.raters,
        "up": summary.up,
        "down": summary.down,
        "stars": summary.star_counts,
        "tags": {t.slug: t.count for t in summary.tags if t.count},
    }


def test_the_dashboard_counts_a_known_data_set(rated_model, alice):
    response = client_for(alice).get("/alice/tiny/feedback")

    assert response.status_code == 200
    assert figures(response) == {
        "generations": 5,
        "ratings": 8,
        "raters": 3,
        "up": 5,
        "down": 3,
        "stars": [1, 1, 1, 2, 3],
        "tags": {"helpful": 2, "incorrect": 2, "too-long": 2},
    }
    summary = response.context["summary"]
    assert summary.star_mean == pytest.approx(29 / 8)
    assert [(d.day.isoformat(), d.ratings, d.up, d.down) for d in summary.days] == [
        ("2025-03-01", 4, 2, 2),
        ("2025-03-02", 4, 3, 1),
    ]
    # Thumbs on g1 (up, up), g2 (down, down), g3 (up, up, down): o_uu=3, o_dd=2, o_ud=o_du=1, n=7, so
    # alpha = 1 - 6 * 2 / (2 * 4 * 3) = 0.5 by hand.
    assert summary.alpha_thumbs == pytest.approx(0.5)
    assert summary.alpha_stars == pytest.approx(krippendorff_alpha([[4, 5], [2, 1], [5, 4, 3]], metric="interval"))
    assert summary.multi_rated == 3
    assert b'id="dashboard-data"' in response.content and b'<canvas id="chart-trend"' in response.content


def test_the_maintainers_ratings_are_counted_only_when_asked_and_hidden_raters_never(rated_model, alice):
    response = client_for(alice).get("/alice/tiny/feedback?maintainers=1")

    counted = figures(response)
    assert (counted["ratings"], counted["raters"], counted["down"]) == (9, 4, 4)
    assert b"the maintainers&#x27; own included" in response.content or b"own included" in response.content


def test_a_revision_is_resolved_to_its_exact_commit(rated_model, alice):
    _repo, first, second = rated_model
    client = client_for(alice)

    by_tag = client.get("/alice/tiny/feedback?revision=v0.1")
    by_branch = client.get("/alice/tiny/feedback?revision=main")

    assert by_tag.context["commit"] == first and by_branch.context["commit"] == second
    assert (figures(by_tag)["ratings"], figures(by_tag)["generations"], figures(by_tag)["raters"]) == (4, 2, 2)
    assert by_tag.context["summary"].alpha_thumbs == pytest.approx(1.0)
    assert figures(client.get(f"/alice/tiny/feedback?revision={second.oid[:8]}"))["ratings"] == 4
    revisions = by_tag.context["revisions"]
    assert [(r.oid, r.ratings, r.refs) for r in revisions] == [(second.oid, 4, ["main"]), (first.oid, 4, ["v0.1"])]


def test_an_unknown_revision_is_404(rated_model, alice):
    assert client_for(alice).get("/alice/tiny/feedback?revision=nope").status_code == 404


def test_the_compare_view_shows_both_revisions_with_wilson_intervals(rated_model, alice):
    response = client_for(alice).get("/alice/tiny/feedback/compare?a=v0.1&b=main")

    assert response.status_code == 200
    comparison = response.context["comparison"]
    assert (comparison.a.ratings, comparison.b.ratings) == (4, 4)
    assert (comparison.a.up_ratio, comparison.b.up_ratio) == (0.5, 0.75)
    assert comparison.a.up_interval == pytest.approx((0.1500, 0.8500), abs=1e-4)
    assert comparison.b.up_interval == pytest.approx((0.3006, 0.9544), abs=1e-4)
    assert (comparison.a.star_mean, comparison.b.star_mean) == (3.0, 4.25)
    shares = {t.slug: (t.share_a, t.share_b, t.points) for t in comparison.tags if t.share_a or t.share_b}
    assert shares == {"helpful": (0.25, 0.25, 0.0), "incorrect": (0.5, 0.0, -50.0), "too-long": (0.25, 0.25, 0.0)}
    assert b"Wilson 95% interval" in response.content and b"15.0\xe2\x80\x9385.0%" in response.content


def test_the_compare_view_picks_the_two_newest_rated_revisions_by_default(rated_model, alice):
    _repo, first, second = rated_model

    comparison = client_for(alice).get("/alice/tiny/feedback/compare").context["comparison"]

    assert (comparison.commit_a, comparison.commit_b) == (first, second)


def test_organisation_members_and_staff_see_the_dashboard_others_do_not(alice, bob, charlie):
    org = account_services.organization_create(creator=alice, name="acme")
    account_services.membership_set(org=org, actor=alice, username="bob", role="read")
    make_repo(owner=alice, namespace="acme", name="public")
    make_repo(owner=alice, namespace="acme", name="secret", private=True)
    staff = make_user("sam", is_staff=True)

    for user in (alice, bob, staff):
        assert client_for(user).get("/acme/public/feedback").status_code == 200, user
    for user in (alice, bob):
        assert client_for(user).get("/acme/secret/feedback/compare").status_code == 200, user
    # Staff see what they may read: a private model stays hidden outside the admin, as on its own page.
    assert client_for(staff).get("/acme/secret/feedback").status_code == 404
    assert client_for(charlie).get("/acme/public/feedback").status_code == 403
    assert client_for(charlie).get("/acme/public/feedback/compare").status_code == 403
    assert client_for(charlie).get("/acme/secret/feedback").status_code == 404
    assert client_for().get("/acme/secret/feedback").status_code == 404
    anonymous = client_for().get("/acme/public/feedback")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    assert client_for(alice).get("/acme/nothing/feedback").status_code == 404


def test_datasets_have_no_feedback_dashboard(alice):
    make_repo(owner=alice, name="data", kind="dataset")

    assert client_for(alice).get("/datasets/alice/data/feedback").status_code == 404


def test_the_feedback_tab_is_shown_to_maintainers_only(alice, charlie):
    make_repo(owner=alice)

    assert b'href="/alice/tiny/feedback"' in client_for(alice).get("/alice/tiny").content
    assert b'href="/alice/tiny/feedback"' not in client_for(charlie).get("/alice/tiny").content


def test_a_model_without_ratings_says_so(alice):
    make_repo(owner=alice)

    response = client_for(alice).get("/alice/tiny/feedback")

    assert response.status_code == 200 and b"No ratings yet" in response.content
    assert response.context["summary"].alpha_thumbs is None


def test_the_dashboard_reads_a_bounded_number_of_queries_however_many_ratings(alice, django_assert_max_num_queries):
    ensure_tags()
    repo = make_repo(owner=alice)
    commits = [make_commit(repo=repo, author=alice, files={"a.txt": str(i).encode()}) for i in range(3)]
    raters = [make_user(f"rater{i}") for i in range(6)]
    generations = [make_generation(repo=repo, commit=commits[i % 3]) for i in range(40)]
    now = timezone.now()
    Rating.objects.bulk_create(
        Rating(
            generation=g, user=u, thumb="up" if (i + j) % 3 else "down", stars=1 + (i * j) % 5,
            tags=["helpful"] if j % 2 else ["too-long", "incorrect"], created_at=now - dt.timedelta(days=i % 7),
            updated_at=now,
        )
        for i, g in enumerate(generations)
        for j, u in enumerate(raters)
    )  # fmt: skip
    client = client_for(alice)
    client.get("/alice/tiny")  # the session is read once before counting

    with django_assert_max_num_queries(14):
        response = client.get("/alice/tiny/feedback")
    with django_assert_max_num_queries(14):
        client.get(f"/alice/tiny/feedback?revision={commits[0].oid}&maintainers=1")
    with django_assert_max_num_queries(20):  # two summaries, two revisions resolved
        compare = client.get(f"/alice/tiny/feedback/compare?a={commits[0].oid}&b={commits[1].oid}")

    assert response.context["summary"].ratings == 240 and response.context["summary"].multi_rated == 40
    assert compare.status_code == 200
