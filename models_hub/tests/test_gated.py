"""Gated repositories: the rules, the services, and the pages people use to ask and to answer."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Membership, Organization
from conftest import client_for, make_commit, make_repo, make_user
from models_hub import selectors, services
from models_hub.errors import BadRequest, NotFound
from models_hub.models import AccessRequest, Repository

pytestmark = pytest.mark.django_db

FILES = {"README.md": b"# Gated model\n", "config.json": b'{"n_layer": 2}\n'}


@pytest.fixture
def repo(alice) -> Repository:
    repo = make_repo(owner=alice, name="gated")
    make_commit(repo=repo, author=alice, files=FILES)
    return services.repo_update_settings(repo=repo, gated=Repository.Gate.MANUAL)


# Rules and services


def test_outsiders_need_an_accepted_request_members_do_not(repo, alice, bob):
    org = Organization.objects.create(name="lab")
    Membership.objects.create(organization=org, user=alice, role=Membership.Role.ADMIN)
    Membership.objects.create(organization=org, user=bob, role=Membership.Role.READ)
    org_repo = make_repo(owner=alice, name="shared", namespace="lab")
    services.repo_update_settings(repo=org_repo, gated=Repository.Gate.MANUAL)
    assert selectors.repo_access(org_repo, bob).can_download  # any member role passes the gate
    assert selectors.repo_access(repo, alice).can_download
    assert not selectors.repo_access(repo, bob).can_download
    assert selectors.repo_access(repo, bob).gate_refusal("README.md") is None
    assert "not in the authorized list" in selectors.repo_access(repo, bob).gate_refusal("config.json")


def test_asking_twice_keeps_one_request_and_auto_gates_accept_at_once(repo, alice, bob, charlie):
    first = services.access_request_submit(repo=repo, user=bob)
    again = services.access_request_submit(repo=repo, user=bob)
    assert first.pk == again.pk and again.status == AccessRequest.Status.PENDING
    assert "awaiting a review" in selectors.repo_access(repo, bob).gate_refusal("config.json")

    services.repo_update_settings(repo=repo, gated=Repository.Gate.AUTO)
    assert AccessRequest.objects.get(pk=first.pk).status == AccessRequest.Status.ACCEPTED
    assert services.access_request_submit(repo=repo, user=charlie).status == AccessRequest.Status.ACCEPTED
    assert selectors.repo_access(repo, charlie).can_download


def test_a_rejected_user_cannot_reopen_their_request_by_asking_again(repo, alice, bob):
    services.access_request_submit(repo=repo, user=bob)
    services.access_request_decide(repo=repo, actor=alice, status="rejected", username="bob", rejection_reason="No")
    assert services.access_request_submit(repo=repo, user=bob).status == AccessRequest.Status.REJECTED


def test_service_errors_are_clear(repo, alice, bob):
    with pytest.raises(BadRequest, match="maintainers"):
        services.access_request_submit(repo=repo, user=alice)
    with pytest.raises(NotFound, match="no access request from 'bob'"):
        services.access_request_decide(repo=repo, actor=alice, status="accepted", username="bob")
    with pytest.raises(NotFound, match="no user named"):
        services.access_grant(repo=repo, actor=alice, username="ghost")
    with pytest.raises(BadRequest, match="Invalid gate"):
        services.repo_update_settings(repo=repo, gated="sometimes")
    open_repo = make_repo(owner=alice, name="open")
    with pytest.raises(BadRequest, match="not gated"):
        services.access_request_submit(repo=open_repo, user=bob)


# Pages


def test_repo_page_offers_to_ask_and_shows_the_request_afterwards(repo, bob):
    client = client_for(bob)
    page = client.get("/alice/gated").content.decode()
    assert "Ask for access" in page and "gated" in page

    panel = client.post("/alice/gated/access-request", HTTP_HX_REQUEST="true")
    assert panel.status_code == 200
    assert "Request sent" in panel.content.decode() and "<html" not in panel.content.decode()
    assert AccessRequest.objects.get(user=bob).status == AccessRequest.Status.PENDING
    assert "Request sent" in client.get("/alice/gated").content.decode()


def test_asking_works_without_javascript_and_anonymous_visitors_are_sent_to_log_in(repo, bob):
    response = client_for(bob).post("/alice/gated/access-request")
    assert response.status_code == 302 and response["Location"] == "/alice/gated"
    assert AccessRequest.objects.filter(user=bob).exists()
    anonymous = Client()
    assert "Log in to ask for access" in anonymous.get("/alice/gated").content.decode()
    assert anonymous.post("/alice/gated/access-request").status_code == 302
    assert AccessRequest.objects.count() == 1


def test_file_pages_are_closed_until_access_is_granted(repo, alice, bob):
    client = client_for(bob)
    refused = client.get("/alice/gated/blob/main/config.json")
    assert refused.status_code == 403
    assert "not in the authorized list" in refused.content.decode()
    assert "n_layer" not in refused.content.decode()
    assert client.get("/alice/gated/blob/main/README.md").status_code == 200
    tree = client.get("/alice/gated/tree/main").content.decode()
    assert "config.json" in tree and "/resolve/main/config.json" not in tree
    assert client.get("/alice/gated/resolve/main/config.json").status_code == 403

    services.access_grant(repo=repo, actor=alice, username="bob")
    assert "n_layer" in client.get("/alice/gated/blob/main/config.json").content.decode()
    assert b"".join(client.get("/alice/gated/resolve/main/config.json").streaming_content) == FILES["config.json"]


def test_maintainer_accepts_and_rejects_on_the_access_page(repo, alice, bob, charlie, django_assert_max_num_queries):
    for user in (bob, charlie):
        services.access_request_submit(repo=repo, user=user)
    for i in range(20):
        services.access_request_submit(repo=repo, user=make_user(f"asker{i}"))
    client = client_for(alice)
    with django_assert_max_num_queries(12):
        page = client.get("/alice/gated/access")
    text = page.content.decode()
    assert page.status_code == 200 and ">bob</a>" in text
    assert "@example.com" not in text  # requesters' e-mail addresses are never shown to maintainers

    bob_request = AccessRequest.objects.get(user=bob)
    response = client.post(
        "/alice/gated/access", {"action": "decide", "request_id": bob_request.pk, "status": "accepted"}
    )
    assert response.status_code == 302
    charlie_request = AccessRequest.objects.get(user=charlie)
    client.post(
        "/alice/gated/access",
        {"action": "decide", "request_id": charlie_request.pk, "status": "rejected", "reason": "Not yet"},
    )
    assert selectors.repo_access(repo, bob).can_download and not selectors.repo_access(repo, charlie).can_download
    assert AccessRequest.objects.get(user=charlie).decided_by == alice
    assert "Your request was declined" in client_for(charlie).get("/alice/gated").content.decode()


def test_outsiders_cannot_open_the_access_page(repo, bob):
    assert client_for(bob).get("/alice/gated/access").status_code == 403
    assert Client().get("/alice/gated/access").status_code == 302


@pytest.mark.parametrize(
    "data",
    [
        {"action": "decide", "request_id": "abc", "status": "accepted"},
        {"action": "decide", "request_id": "-1", "status": "accepted"},
        {"action": "decide", "request_id": "99999999999999999999", "status": "accepted"},
        {"action": "decide", "request_id": "1", "status": "owner"},
        {"action": "decide", "request_id": "1", "status": "rejected", "reason": "x" * 501},
        {"action": "grant", "username": "<script>alert(1)</script>"},
        {"action": "grant", "username": ""},
        {"action": "grant", "username": "alice"},
    ],
)
def test_hostile_access_page_input_gets_a_400_and_changes_nothing(repo, alice, bob, data):
    services.access_request_submit(repo=repo, user=bob)
    response = client_for(alice).post("/alice/gated/access", data)
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()  # the page says what was wrong
    assert "<script>alert(1)</script>" not in response.content.decode()
    assert AccessRequest.objects.get(user=bob).status == AccessRequest.Status.PENDING


def test_settings_turn_the_gate_on_and_off(alice):
    make_repo(owner=alice, name="plain")
    client = client_for(alice)
    assert client.post("/alice/plain/settings", {"action": "gate", "gated": "auto"}).status_code == 302
    assert Repository.objects.get(name="plain").gated == "auto"
    assert client.post("/alice/plain/settings", {"action": "gate", "gated": "off"}).status_code == 302
    assert Repository.objects.get(name="plain").gated == ""
    services.repo_update_settings(repo=Repository.objects.get(name="plain"), gated="manual")
    for bad in ({"gated": "always"}, {"gated": ""}, {}):  # a missing choice must not open the gate
        response = client.post("/alice/plain/settings", {"action": "gate", **bad})
        assert response.status_code == 400 and "Choose one of the three options" in response.content.decode()
    assert Repository.objects.get(name="plain").gated == "manual"


def test_a_declined_requester_is_told_so_with_the_reason(repo, alice, bob):
    services.access_request_submit(repo=repo, user=bob)
    services.access_request_decide(
        repo=repo, actor=alice, status="rejected", username="bob", rejection_reason="Lab only"
    )
    page = client_for(bob).get("/alice/gated/blob/main/config.json").content.decode()
    assert "was declined by its maintainers. Reason: Lab only" in page


def test_htmx_ask_leads_anonymous_visitors_to_log_in_and_back_to_the_card(repo):
    response = Client().post("/alice/gated/access-request", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == "/accounts/login/?next=/alice/gated"


def test_htmx_ask_on_a_repo_that_is_no_longer_gated_reloads_the_page_with_the_reason(alice, bob):
    make_repo(owner=alice, name="open")
    client = client_for(bob)
    response = client.post("/alice/open/access-request", HTTP_HX_REQUEST="true")
    assert response.headers["HX-Refresh"] == "true"
    assert "is not gated" in client.get("/alice/open").content.decode()
