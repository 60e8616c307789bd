"""Cards are rendered through an allow-list, and relative links open the repository's own files."""

from models_hub.cards import parse_card, render_markdown


def test_scripts_and_javascript_links_are_removed():
    html = render_markdown('<script>alert(1)</script>[x](javascript:alert(1)) <img src="y" onerror="alert(1)">')
    assert "<script" not in html and "javascript:" not in html and "onerror" not in html


def test_relative_images_and_links_point_at_the_repository_files():
    html = render_markdown("![plot](images/plot.png) [config](./config.json)", repo_url="/alice/tiny", revision="v1")
    assert 'src="/alice/tiny/resolve/v1/images/plot.png"' in html
    assert 'href="/alice/tiny/blob/v1/config.json"' in html


def test_links_escaping_the_repository_lose_their_target():
    html = render_markdown("[up](../../etc/passwd)", repo_url="/alice/tiny", revision="main")
    assert "etc/passwd" not in html


def test_absolute_and_anchor_links_are_kept():
    html = render_markdown("[ext](https://example.org/a) [top](#top)", repo_url="/alice/tiny", revision="main")
    assert 'href="https://example.org/a"' in html and 'href="#top"' in html


def test_bad_yaml_is_reported_not_raised():
    card = parse_card("---\nlicense: [mit\n---\nbody")
    assert card.error and card.body == "body" and card.metadata == {}


def test_yaml_alias_bombs_are_refused_without_expanding():
    bomb = "---\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    bomb += "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n---\nbody"
    card = parse_card(bomb)
    assert card.metadata == {} and "aliases" in card.error


def test_yaml_dates_become_text_so_metadata_is_json():
    card = parse_card("---\ndate: 2024-01-02\nlicense: mit\n---\n")
    assert card.metadata == {"date": "2024-01-02", "license": "mit"} and not card.error
