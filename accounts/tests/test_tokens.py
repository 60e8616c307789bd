"""API tokens: the settings page, the REST API and the create_token command."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection

from accounts.models import ApiToken
from accounts.services import organization_create, token_create, token_revoke

pytestmark = pytest.mark.django_db


def bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def all_text_in_database() -> str:
    """Every value of every column of the accounts tables, to look for a leaked secret."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        return repr(cursor.fetchall())


def test_tokens_page_needs_login(client):
    response = client.get("/settings/tokens")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_created_token_is_shown_once_and_only_its_hash_is_stored(client, alice):
    client.force_login(alice)
    response = client.post("/settings/tokens", {"name": "laptop", "scope": "write"}, follow=True)
    assert response.redirect_chain == [("/settings/tokens/created", 302)]
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    secret = re.search(r'value="(fw_[^"]+)"', html).group(1)
    assert f"hf auth login --token {secret}" in html and "huggingface-cli" not in html
    assert f"HF_TOKEN={secret}" in html and f"Authorization: Bearer {secret}" in html

    token = ApiToken.objects.get(user=alice)
    assert token.name == "laptop" and token.scope == "write"
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in all_text_in_database()
    assert secret[:10] == token.prefix

    listing = client.get("/settings/tokens").content.decode()
    assert "laptop" in listing and token.prefix in listing
    assert secret not in listing


def test_reloading_the_created_page_makes_no_second_token_and_hides_the_secret(client, alice):
    client.force_login(alice)
    first = client.post("/settings/tokens", {"name": "laptop", "scope": "read"}, follow=True).content.decode()
    secret = re.search(r'value="(fw_[^"]+)"', first).group(1)

    reload = client.get("/settings/tokens/created", follow=True)
    assert ApiToken.objects.filter(user=alice).count() == 1
    assert reload.redirect_chain == [("/settings/tokens", 302)]
    html = reload.content.decode()
    assert secret not in html and "shown only once" in html
    assert secret not in str(dict(client.session))  # the session forgot it on the first read


def test_token_form_refuses_an_unknown_scope(client, alice):
    client.force_login(alice)
    response = client.post("/settings/tokens", {"name": "x", "scope": "admin"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoke_without_javascript_redirects_and_stops_the_token(client, alice):
    created = token_create(user=alice, name="ci", scope="read")
    assert client.get("/api/v1/me/", **bearer(created.secret)).status_code == 200
    client.force_login(alice)
    response = client.post(f"/settings/tokens/{created.token.pk}/revoke")
    assert response.status_code == 302
    created.token.refresh_from_db()
    assert created.token.revoked_at is not None
    assert "revoked" in client.get("/settings/tokens").content.decode()
    assert client.get("/api/v1/me/", **bearer(created.secret)).status_code == 401


def test_revoke_with_htmx_answers_the_row(client, alice):
    created = token_create(user=alice, name="ci")
    client.force_login(alice)
    response = client.post(f"/settings/tokens/{created.token.pk}/revoke", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith("<tr") and "revoked" in html and "<html" not in html


def test_revoke_is_post_only(client, alice):
    created = token_create(user=alice, name="ci")
    client.force_login(alice)
    assert client.get(f"/settings/tokens/{created.token.pk}/revoke").status_code == 405


def test_someone_elses_token_cannot_be_revoked(client, alice, bob):
    created = token_create(user=alice, name="ci")
    client.force_login(bob)
    assert client.post(f"/settings/tokens/{created.token.pk}/revoke").status_code == 404
    created.token.refresh_from_db()
    assert created.token.revoked_at is None


def test_me_exposes_username_orgs_and_scope(client, alice, bob):
    organization_create(creator=alice, name="acme")
    read = token_create(user=alice, name="r", scope="read")
    write = token_create(user=alice, name="w", scope="write")
    body = client.get("/api/v1/me/", **bearer(read.secret)).json()
    assert body["username"] == "alice"
    assert body["orgs"] == [{"name": "acme", "role": "admin"}]
    assert body["scope"] == "read"
    assert body["auth"] == {"type": "token", "name": "r", "scope": "read"}
    assert client.get("/api/v1/me/", **bearer(write.secret)).json()["scope"] == "write"


def test_me_with_a_session(client, alice):
    client.force_login(alice)
    body = client.get("/api/v1/me/").json()
    assert body["username"] == "alice" and body["auth"] == {"type": "session"}


def test_me_with_a_bad_token_is_401_with_a_message(client):
    response = client.get("/api/v1/me/", **bearer("fw_not-a-real-token"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"error": "Invalid credentials in Authorization header"}


def test_me_without_credentials_is_401(client):
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert "credentials were not provided" in response.json()["error"]


def test_revoked_token_stops_authenticating_and_says_it_was_revoked(client, alice, time_machine):
    created = token_create(user=alice, name="ci")
    time_machine.move_to(datetime(2026, 3, 14, 15, 9, tzinfo=UTC))
    token_revoke(user=alice, token_id=created.token.pk)
    message = "This token was revoked on 2026-03-14 at 15:09 UTC. Create a new one in your settings."

    rest = client.get("/api/v1/me/", **bearer(created.secret))
    assert rest.status_code == 401 and rest.json() == {"error": message}  # one shape for both APIs
    hub = client.get("/api/whoami-v2", **bearer(created.secret))
    assert hub.status_code == 401 and hub.json()["error"] == message
    unknown = client.get("/api/v1/me/", **bearer("fw_never-issued"))
    assert unknown.json() == {"error": "Invalid credentials in Authorization header"}


def test_tokens_of_a_deactivated_user_stop_authenticating(client, alice):
    created = token_create(user=alice, name="ci")
    alice.is_active = False
    alice.save()
    assert client.get("/api/v1/me/", **bearer(created.secret)).status_code == 401


def test_use_records_last_used(client, alice):
    created = token_create(user=alice, name="ci")
    client.get("/api/v1/me/", **bearer(created.secret))
    created.token.refresh_from_db()
    assert created.token.last_used_at is not None


def test_create_token_command_prints_a_token_that_authenticates(client, alice):
    out = io.StringIO()
    call_command("create_token", "alice", "--scope", "write", stdout=out)
    secret = out.getvalue().strip()
    assert secret.startswith("fw_")
    body = client.get("/api/v1/me/", **bearer(secret)).json()
    assert body["username"] == "alice" and body["scope"] == "write"
    assert secret not in all_text_in_database()


def test_api_lists_creates_and_revokes_tokens(client, alice):
    write = token_create(user=alice, name="w", scope="write")
    created = client.post("/api/v1/tokens/", {"name": "bot", "scope": "read"}, **bearer(write.secret))
    assert created.status_code == 201
    secret = created.json()["token"]
    assert client.get("/api/v1/me/", **bearer(secret)).json()["scope"] == "read"

    listing = client.get("/api/v1/tokens/", **bearer(write.secret)).json()
    assert {t["name"] for t in listing} == {"w", "bot"}
    assert all("token" not in t and "key_hash" not in t for t in listing)

    token_id = created.json()["id"]
    assert client.delete(f"/api/v1/tokens/{token_id}/", **bearer(write.secret)).status_code == 204
    assert client.get("/api/v1/me/", **bearer(secret)).status_code == 401


def test_a_read_token_cannot_mint_tokens(client, alice):
    read = token_create(user=alice, name="r", scope="read")
    response = client.post("/api/v1/tokens/", {"name": "escalate", "scope": "write"}, **bearer(read.secret))
    assert response.status_code == 403
    assert "read scope" in response.json()["error"]
    assert ApiToken.objects.filter(user=alice).count() == 1


def test_api_refuses_an_unknown_scope(client, alice):
    client.force_login(alice)
    response = client.post("/api/v1/tokens/", {"name": "x", "scope": "root"}, content_type="application/json")
    assert response.status_code == 400
    assert "'scope'" in response.json()["error"]


def test_api_cannot_revoke_another_users_token(client, alice, bob):
    created = token_create(user=alice, name="ci")
    client.force_login(bob)
    assert client.delete(f"/api/v1/tokens/{created.token.pk}/").status_code == 404


def test_tokens_page_query_count_is_bounded(client, alice, django_assert_max_num_queries):
    for i in range(20):
        token_create(user=alice, name=f"t{i}")
    client.force_login(alice)
    with django_assert_max_num_queries(6):
        assert client.get("/settings/tokens").status_code == 200
