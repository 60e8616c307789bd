"""The download counter counts people, not requests: one anonymous host cannot inflate it by varying headers."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory

from config.env import env_networks
from conftest import make_commit, make_repo
from models_hub.client_address import client_address
from models_hub.models import Repository

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def downloads(repo: Repository) -> int:
    return Repository.objects.get(pk=repo.pk).downloads


@pytest.fixture
def repo(alice) -> Repository:
    repo = make_repo(owner=alice, name="tiny")
    make_commit(repo=repo, author=alice, files={"weights.bin": b"w" * 100})
    return repo


def test_one_anonymous_host_varying_user_agent_and_forwarded_for_counts_once(repo):
    client = Client()
    for i in range(60):
        response = client.get(
            "/alice/tiny/resolve/main/weights.bin",
            REMOTE_ADDR="203.0.113.7",
            HTTP_USER_AGENT=f"agent/{i}",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{i}",
        )
        assert response.status_code == 200

    assert downloads(repo) == 1


def test_two_anonymous_hosts_count_twice(repo):
    client = Client()
    client.get("/alice/tiny/resolve/main/weights.bin", REMOTE_ADDR="203.0.113.7")
    client.get("/alice/tiny/resolve/main/weights.bin", REMOTE_ADDR="203.0.113.8")

    assert downloads(repo) == 2


def test_behind_a_trusted_proxy_the_forwarded_address_counts(repo, settings):
    settings.FLYWHEEL_TRUSTED_PROXIES = ["10.0.0.0/8"]
    client = Client()
    url = "/alice/tiny/resolve/main/weights.bin"

    client.get(url, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.7")
    client.get(url, REMOTE_ADDR="10.0.0.3", HTTP_X_FORWARDED_FOR="203.0.113.8")
    assert downloads(repo) == 2
    # What the client itself put in front of the proxy's entry is not believed.
    client.get(url, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.7")
    assert downloads(repo) == 2


@pytest.mark.parametrize(
    ("trusted", "remote", "forwarded", "expected"),
    [
        ([], "203.0.113.7", "192.0.2.1", "203.0.113.7"),  # no proxy configured: the header is ignored
        (["127.0.0.1"], "203.0.113.7", "192.0.2.1", "203.0.113.7"),  # not from the proxy: ignored
        (["127.0.0.1"], "127.0.0.1", "192.0.2.1", "192.0.2.1"),
        (["127.0.0.1"], "127.0.0.1", "192.0.2.66, 192.0.2.1", "192.0.2.1"),  # the proxy appends the real one
        (["127.0.0.1", "10.0.0.0/8"], "127.0.0.1", "192.0.2.1, 10.1.2.3", "192.0.2.1"),  # two proxies in a row
        (["10.0.0.0/8", "127.0.0.1"], "127.0.0.1", "10.1.2.3", "10.1.2.3"),  # only proxies: the first hop
        (["127.0.0.1"], "127.0.0.1", "", "127.0.0.1"),
        (["::1"], "::1", "2001:db8::5", "2001:db8::5"),
        (["127.0.0.1"], "127.0.0.1", "not-an-address", "127.0.0.1"),
    ],
)
def test_client_address(settings, trusted, remote, forwarded, expected):
    settings.FLYWHEEL_TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)

    assert client_address(request) == expected


@pytest.mark.parametrize(("variable", "expected"), [(None, []), ("127.0.0.1,10.0.0.0/8", ["127.0.0.1", "10.0.0.0/8"])])
def test_gunicorn_believes_forwarded_headers_only_from_the_same_trusted_proxies(monkeypatch, variable, expected):
    from gunicorn.config import Config

    if variable is None:
        monkeypatch.delenv("FLYWHEEL_TRUSTED_PROXIES", raising=False)
    else:
        monkeypatch.setenv("FLYWHEEL_TRUSTED_PROXIES", variable)
    conf = runpy.run_path(str(ROOT / "platform" / "gunicorn.conf.py"))
    config = Config()
    config.set("forwarded_allow_ips", conf["forwarded_allow_ips"])

    assert config.forwarded_allow_ips == expected


def test_a_trusted_proxy_setting_that_is_not_an_address_is_refused(monkeypatch):
    monkeypatch.setenv("FLYWHEEL_TRUSTED_PROXIES", "127.0.0.1,proxy.local")

    with pytest.raises(ImproperlyConfigured, match="proxy.local"):
        env_networks("FLYWHEEL_TRUSTED_PROXIES")
