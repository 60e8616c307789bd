"""The Content-Security-Policy header, and templates that need nothing inline (tests/test_browser_csp.py runs them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from conftest import make_commit, make_repo
from models_hub import highlight

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)


def directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


def test_pages_carry_a_strict_policy(alice):
    make_repo(owner=alice, name="tiny")
    response = Client().get("/alice/tiny")

    policy = directives(response)
    assert policy["default-src"] == "default-src 'self'"
    assert policy["script-src"] == "script-src 'self'"
    assert policy["style-src"] == "style-src 'self'"
    assert policy["object-src"] == "object-src 'none'"
    assert policy["base-uri"] == "base-uri 'self'"
    assert policy["form-action"] == "form-action 'self'"
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"
    assert "unsafe" not in response["Content-Security-Policy"]


def test_downloaded_files_keep_their_own_sandbox(alice):
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={"page.html": b"<script>alert(1)</script>"})

    response = Client().get("/alice/tiny/resolve/main/page.html")

    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_only_redoc_may_style_inline():
    client = Client()
    swagger = client.get("/api/v1/docs/")
    redoc = client.get("/api/v1/redoc/")

    assert "unsafe" not in swagger["Content-Security-Policy"]
    assert not INLINE_SCRIPT.search(swagger.content.decode())
    assert "style-src 'self' 'unsafe-inline'" in redoc["Content-Security-Policy"]
    assert "script-src 'self';" in redoc["Content-Security-Policy"]


@pytest.mark.parametrize("template", sorted((ROOT / "templates").rglob("*.html")), ids=lambda p: p.name)
def test_templates_have_no_inline_scripts_handlers_or_styles(template):
    text = template.read_text()

    assert not INLINE_SCRIPT.search(text), "move the script into static/flywheel/"
    assert not EVENT_HANDLER.search(text), "attach the handler from a static script"
    assert not INLINE_STYLE.search(text), "move the style into a stylesheet under static/"


def test_the_highlight_stylesheet_is_what_pygments_emits():
    css = (ROOT / "static" / "flywheel" / "highlight.css").read_text()

    assert highlight.stylesheet() in css, (
        "Pygments changed: regenerate static/flywheel/highlight.css from models_hub.highlight.stylesheet()"
    )
