"""Names that break on Windows and file names that can look like other names are refused with a clear message."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from accounts.services import token_create
from accounts.validators import validate_hub_name
from conftest import make_repo
from models_hub.models import Commit, Repository
from models_hub.paths import InvalidPath, normalize_repo_path

pytestmark = pytest.mark.django_db

DEVICE_NAMES = ["con", "CON", "Nul", "aux", "prn", "com1", "COM9", "lpt1", "Lpt9", "con.txt", "nul.tar.gz", "aux.model"]
LOOKALIKE_NAMES = ["console", "cons", "com10", "com0", "lpt", "null", "auxiliary", "my-con", "con-model", "prn2"]
INVISIBLE = [
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
]


def bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=user, name='t', scope='write').secret}"}


@pytest.mark.parametrize("name", DEVICE_NAMES)
def test_windows_device_names_are_refused(name):
    with pytest.raises(ValidationError, match="reserved on Windows"):
        validate_hub_name(name)


@pytest.mark.parametrize("name", LOOKALIKE_NAMES)
def test_names_that_only_start_like_a_device_are_fine(name):
    validate_hub_name(name)


def test_creating_a_repository_called_con_is_a_clear_400(alice):
    response = Client().post(
        "/api/repos/create", {"name": "Con.model", "type": "model"}, content_type="application/json", **bearer(alice)
    )

    assert response.status_code == 400
    assert "reserved on Windows" in response.json()["error"]
    assert not Repository.objects.exists()


def test_signing_up_as_nul_is_refused_with_a_message():
    response = Client().post(
        "/accounts/signup/",
        {"username": "nul", "email": "n@example.com", "password1": "a-Long-pass-42", "password2": "a-Long-pass-42"},
    )

    assert response.status_code == 200
    assert "reserved on Windows" in response.content.decode()


@pytest.mark.parametrize("char", INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("template", ["{c}evil.txt", "weights/gpj{c}.exe", "a{c}/b.txt", "x.bin{c}"])
def test_paths_with_invisible_or_direction_characters_are_refused(char, template):
    with pytest.raises(InvalidPath, match=f"U\\+{ord(char):04X}"):
        normalize_repo_path(template.format(c=char))


@pytest.mark.parametrize("path", ["模型/权重.bin", "données/été.csv", "مجلد/ملف.txt", "emoji-🚀.md"])
def test_paths_in_any_script_are_fine(path):
    assert normalize_repo_path(path) == path


def test_a_commit_with_a_right_to_left_override_in_a_path_is_a_clear_422(alice):
    repo = make_repo(owner=alice, name="tiny")
    commits_before = Commit.objects.filter(repository=repo).count()
    body = b"".join(
        json.dumps(line).encode() + b"\n"
        for line in (
            {"key": "header", "value": {"summary": "Add", "description": ""}},
            {
                "key": "file",
                "value": {
                    "path": "invoice\u202etxt.exe",
                    "content": base64.b64encode(b"x").decode(),
                    "encoding": "base64",
                },
            },
        )
    )

    response = Client().post(
        "/api/models/alice/tiny/commit/main", body, content_type="application/x-ndjson", **bearer(alice)
    )

    assert response.status_code == 422  # an invalid path, as the public hub answers it
    assert "U+202E" in response.json()["error"]
    assert Commit.objects.filter(repository=repo).count() == commits_before


def test_a_raw_upload_to_a_path_with_a_zero_width_space_is_a_clear_400(alice):
    make_repo(owner=alice, name="tiny")

    response = Client().put(
        "/api/v1/repos/model/alice/tiny/files/main/config\u200b.json",
        b"{}",
        content_type="application/octet-stream",
        **bearer(alice),
    )

    assert response.status_code == 400
    assert "U+200B" in response.json()["error"]
