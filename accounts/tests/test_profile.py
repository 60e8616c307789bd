"""The profile settings page (the profile pages themselves: models_hub/tests/test_profiles.py)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_edit_profile(client, alice):
    client.force_login(alice)
    page = client.get("/settings/profile")
    assert page.status_code == 200 and 'name="full_name"' in page.content.decode()
    response = client.post("/settings/profile", {"full_name": "Alice L.", "bio": "<script>x</script> hi"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.full_name == "Alice L." and alice.bio.endswith("hi")
    profile = client.get("/alice").content.decode()
    assert "Alice L." in profile
    assert "<script>x</script>" not in profile and "&lt;script&gt;" in profile


def test_edit_profile_refuses_a_too_long_name(client, alice):
    client.force_login(alice)
    response = client.post("/settings/profile", {"full_name": "x" * 151, "bio": ""})
    assert response.status_code == 200
    assert "at most 150 characters" in response.content.decode()


def test_settings_pages_need_login(client):
    for url in ["/settings", "/settings/profile", "/settings/tokens", "/organizations/new"]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_settings_root_redirects_to_profile(client, alice):
    client.force_login(alice)
    assert client.get("/settings")["Location"] == "/settings/profile"
