"""Site-wide pages a visitor can land on: errors and the API docs, which must work air-gapped."""

import re

import pytest

pytestmark = pytest.mark.django_db


def test_unknown_page_gets_the_site_404_not_a_debug_page(client):
    response = client.get("/no-such-user/no-such-repo/tree/main")
    assert response.status_code == 404
    body = response.content.decode()
    assert "404 · Not found" in body
    assert "URLconf" not in body  # never the list of URL patterns


@pytest.mark.parametrize("url", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_api_docs_load_nothing_from_the_internet(client, url):
    response = client.get(url)
    assert response.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', response.content.decode())
    assert sources, "the docs page should load its scripts"
    assert not [s for s in sources if s.startswith(("http://", "https://", "//"))]
    for source in sources:
        if source.startswith("/static/"):
            assert client.get(source).status_code == 200, source
