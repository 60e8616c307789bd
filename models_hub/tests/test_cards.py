"""Cards are rendered through an allow-list, and relative links open the repository's own files."""

import re

import pytest

from models_hub import card_yaml
from models_hub.cards import TOO_COMPLEX_HTML, parse_card, render_markdown, repo_links, summary_of


@pytest.mark.parametrize(
    "text",
    [
        '<script>alert(1)</script>[x](javascript:alert(1)) <img src="y" onerror="alert(1)">',
        '[x](javascript:alert(1))\n\n<a href="javascript:alert(2)">y</a> <img src="y" onerror="alert(3)">',
        '<div>\n<script>alert(1)</script><iframe src="https://evil.example"></iframe>\n</div>',
    ],
)
def test_scripts_and_javascript_links_are_removed(text):
    html = render_markdown(text)
    assert "<script" not in html and "<iframe" not in html and "onerror" not in html
    assert 'href="javascript' not in html and 'src="javascript' not in html


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


# Hostile YAML costs bounded time with either parser (libyaml, and the pure-Python fallback).

HOSTILE_YAML = {
    "unclosed flow sequences": "a: " + "[" * 13_000,
    "deeply nested flow sequences": "a: " + "[" * 3_000 + "]" * 3_000,
    "flow nesting behind quoted closers": "a: " + '[ "]" ' * 3_000,
    "flow mappings": "a: " + "{a: " * 5_000,
    "block sequences": "a:\n" + "- " * 20_000 + "x",
    "indentation": "".join(" " * i + f"k{i}:\n" for i in range(200)),
    "billion laughs": (
        "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    ),
    "too many values": "a: [" + "0," * 120_000 + "]",
    "too large": "a: " + "x" * (card_yaml.MAX_METADATA_BYTES + 1),
    "a huge integer": "a: " + "9" * 100_000,
}


@pytest.mark.timeout(20, func_only=True)  # a hang guard: before the fix these took minutes
@pytest.mark.parametrize("loader", [card_yaml.LOADER, card_yaml.PURE_LOADER], ids=["libyaml", "pure-python"])
@pytest.mark.parametrize("text", HOSTILE_YAML.values(), ids=HOSTILE_YAML.keys())
def test_hostile_yaml_is_refused_with_a_message(text, loader):
    with pytest.raises(card_yaml.MetadataError) as refused:
        card_yaml.load_metadata(text, loader=loader)
    assert str(refused.value).startswith(("The YAML metadata", "Invalid YAML"))


@pytest.mark.timeout(20, func_only=True)
def test_hostile_card_is_reported_not_raised():
    card = parse_card("---\nlicense: " + "[" * 13_000 + "\n---\n# Body\n")
    assert card.errors and card.metadata == {} and card.body == "# Body\n"


def test_sexagesimal_numbers_are_text_as_in_yaml_1_2():
    # PyYAML reads "1:2:3" as a base-60 integer, at quadratic cost; the hub's js-yaml reads text.
    assert card_yaml.load_metadata("a: " + "1:" * 50_000 + "1")["a"].startswith("1:1:1")


def test_no_is_norwegian_not_false():
    assert card_yaml.load_metadata("language: no\ninference: false") == {"language": "no", "inference": False}


def test_parser_messages_point_at_readme_lines_without_noise():
    card = parse_card("---\nlicense: mit\ntags: [a\n---\n")
    assert card.error.startswith("Invalid YAML: while parsing a flow sequence")
    assert re.search(r"\(line [34], column \d+\)$", card.error), card.error  # README.md's own line numbers
    assert "<unicode string>" not in card.error


def test_duplicate_keys_are_refused_as_the_hub_refuses_them():
    assert "duplicate key 'license'" in parse_card("---\nlicense: mit\nlicense: apache-2.0\n---\n").error


def test_infinite_numbers_are_refused_because_json_cannot_hold_them():
    assert "JSON cannot hold" in parse_card("---\nvalue: .inf\n---\n").error


# Known fields are checked as the public hub checks them.

MODEL_INDEX = """---
model-index:
- name: tiny
  results:
  - task:
      type: text-generation
    dataset:
      type: stories
      name: Tiny stories
    metrics:
    - type: perplexity
      value: 12.5
      verified: false
---
"""


def test_a_complete_model_index_passes():
    card = parse_card(MODEL_INDEX)
    assert not card.errors and card.metadata["model-index"][0]["results"][0]["metrics"][0]["value"] == 12.5


@pytest.mark.parametrize(
    ("front_matter", "message"),
    [
        ("model-index: foo", '"model-index" must be an array'),
        ("model-index:\n- results: []", '"model-index[0].name" is required'),
        (
            "model-index:\n- name: x\n  results: [{task: {type: t}, metrics: []}]",
            '"model-index[0].results[0].dataset" is required',
        ),
        (
            "model-index:\n- name: x\n  results: [{task: {type: t}, dataset: {type: d}, metrics: []}]",
            '"model-index[0].results[0].dataset.name" is required',
        ),
        (
            "model-index:\n- name: x\n  results: [{task: {type: t}, dataset: {type: d, name: n}, metrics: [{type: acc}]}]",
            '"model-index[0].results[0].metrics[0].value" is required',
        ),
        ("license: 2", '"license" must be a string'),
        ("license: [mit]", '"license" must be a string'),
        ("tags: demo", '"tags" must be an array'),
        ("tags: [ok, {a: b}]", '"tags[1]" must be a string'),
        ("datasets: {a: b}", '"datasets" must be a string or an array of strings'),
        ("pipeline_tag: [a, b]", '"pipeline_tag" must be a string'),
        ("library_name: true", '"library_name" must be a string'),
        ("language: [en, 3.5, [x]]", '"language[2]" must be a string'),
        ("base_model: //evil.example/x", "\"base_model\" with value '//evil.example/x' is not valid"),
        ("base_model: [alice/tiny, 'javascript:alert(1)']", '"base_model[1]" with value'),
        ("inference: maybe", '"inference" must be a boolean or an object'),
    ],
)
def test_wrong_field_types_are_errors_that_name_the_field(front_matter, message):
    card = parse_card(f"---\n{front_matter}\n---\n")
    assert card.metadata == {} and message in card.error, card.error


def test_common_card_shapes_pass():
    card = parse_card(
        "---\nlicense: apache-2.0\nlanguage: [en, fr]\ntags: [a, 2024]\ndatasets: alice/corpus\n"
        "base_model: [alice/tiny, gpt2]\npipeline_tag: text-generation\nlibrary_name: transformers\n"
        "model-index:\n- name: x\n  results: []\nthumbnail:\n---\n"
    )
    assert not card.errors and not card.warnings


def test_dataset_cards_may_list_licenses_model_cards_may_not():
    text = "---\nlicense: [mit, cc-by-4.0]\ntask_categories: text-generation\n---\n"
    assert not parse_card(text, kind="dataset").errors
    assert '"license" must be a string' in parse_card(text, kind="model").error


@pytest.mark.parametrize("text", ["# No metadata\n", "---\n\n---\n# Empty\n", "---\n# only a comment\n---\n"])
def test_empty_metadata_is_a_warning_in_the_hubs_words(text):
    card = parse_card(text)
    assert not card.errors and card.warnings == ["empty or missing yaml metadata in repo card"]


@pytest.mark.parametrize(
    "value",
    ["//evil.example/x", "\\\\evil.example", "javascript:alert(1)", "http://evil.example/a", "a/b/c", "../x", "gpt2"],
)
def test_only_owner_name_ids_become_links(value):
    assert repo_links([value], kind="model") == [(value, None)]


def test_repo_ids_link_to_this_site():
    assert repo_links(["alice/tiny"], kind="model") == [("alice/tiny", "/alice/tiny")]
    assert repo_links(["alice/corpus"], kind="dataset") == [("alice/corpus", "/datasets/alice/corpus")]


# Markdown bodies cost bounded time too (Python-Markdown took minutes on 10 KB of '[').

HOSTILE_MARKDOWN = {
    "100 KB of [": "[" * 100_000,
    "100 KB of ![": "![" * 50_000,
    "100 KB of [a](": "[a](" * 25_000,
    "100 KB of _*": "_*" * 50_000,
    "100,000 nested quotes": ">" * 100_000,
    "20,000 nested divs": "<div>" * 20_000,
    "nested lists": "".join("  " * i + "- x\n" for i in range(2_000)),
}


@pytest.mark.timeout(20, func_only=True)  # a hang guard
@pytest.mark.parametrize("text", HOSTILE_MARKDOWN.values(), ids=HOSTILE_MARKDOWN.keys())
def test_hostile_markdown_renders_or_gives_up_quickly(text):
    html = render_markdown(text, repo_url="/alice/tiny", revision="main")
    assert html == TOO_COMPLEX_HTML or len(html) >= len(text) // 4
    assert summary_of(text) == summary_of(text)[:300]


def test_markdown_keeps_tables_code_languages_and_strikethrough():
    html = render_markdown("| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nx = 1\n```\n\n~~old~~")
    assert "<td>1</td>" in html and '<code class="language-python">' in html and "<del>old</del>" in html
