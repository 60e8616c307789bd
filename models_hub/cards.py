"""Model and dataset cards: README.md with YAML front matter, rendered through an allow-list."""

from __future__ import annotations

import html
import posixpath
import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

import cmarkgfm
import nh3
from cmarkgfm.cmark import Options as CmarkOptions

from models_hub import card_schema, card_yaml

FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
MAX_CARD_BYTES = 1024 * 1024
MARKDOWN_LINK_RE = re.compile(r"!?\[([^\]]*)\]\((?:[^()]|\([^()]*\))*\)")
# The first paragraph is cut to this before links are taken out: a summary keeps 300 characters.
MAX_SUMMARY_SOURCE = 2000
# GitHub's dialect, with fenced code as <code class="language-x"> (the sanitiser keeps that class).
GFM_EXTENSIONS = ["table", "autolink", "tagfilter", "strikethrough", "tasklist"]
MAX_RENDERED_HTML_BYTES = 4 * 1024 * 1024
MAX_HTML_DEPTH = 256
TOO_COMPLEX_HTML = (
    "<p><em>This document is too large or nests too deeply to show here; open the file to read it.</em></p>"
)
# Tags in one pass without backtracking: a tag's attributes never contain '<' or '>'.
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^<>]*?(/?)>")
VOID_ELEMENTS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "details",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "code": {"class"},
    "span": {"class"},
    "div": {"class"},
    "th": {"align"},
    "td": {"align"},
}


EMPTY_METADATA_WARNING = "empty or missing yaml metadata in repo card"  # the public hub's words
MAX_REPORTED_ERRORS = 10


@dataclass
class Card:
    metadata: dict = field(default_factory=dict)
    body: str = ""
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def error(self) -> str:
        return "; ".join(self.errors)


def split_card(text: str) -> tuple[str | None, str]:
    """README.md as (its YAML front matter, or None, and its markdown body). Reads no YAML."""
    match = FRONT_MATTER_RE.match(text)
    if not match:
        return None, text
    return match.group(1), text[match.end() :]


def parse_card(text: str, *, kind: str = "model") -> Card:
    """README.md's metadata, read with bounded cost and checked as the public hub checks it.

    Bad metadata is reported in `errors`, not raised; `metadata` is then empty.
    """
    front_matter, body = split_card(text)
    if front_matter is None:
        return Card(body=body, warnings=[EMPTY_METADATA_WARNING])
    try:
        # The front matter starts on the line after the opening '---'.
        metadata = card_yaml.load_metadata(front_matter, first_line=2)
    except card_yaml.MetadataError as exc:
        return Card(body=body, errors=[str(exc)])
    errors = card_schema.metadata_errors(metadata, kind=kind)
    if errors:
        more = len(errors) - MAX_REPORTED_ERRORS
        errors = errors[:MAX_REPORTED_ERRORS] + ([f"and {more} more problems"] if more > 0 else [])
        return Card(body=body, errors=errors)
    return Card(metadata=metadata, body=body, warnings=[] if metadata else [EMPTY_METADATA_WARNING])


def repo_links(ids: list[str], *, kind: str) -> list[tuple[str, str | None]]:
    """(id, URL) for ids a card names; only a valid `owner/name` gets a URL, always on this site."""
    prefix = "/datasets/" if kind == "dataset" else "/"
    return [(repo_id, prefix + repo_id if card_schema.is_repo_id(repo_id) else None) for repo_id in ids]


def _repo_link_rewriter(repo_url: str, revision: str):
    """Point relative links and images of a card at the repository's own files, as the public hub does."""

    def rewrite(element: str, attribute: str, value: str) -> str | None:
        if (element, attribute) not in (("a", "href"), ("img", "src")):
            return value
        if not value or value.startswith(("#", "/")) or urlsplit(value).scheme or value.startswith("//"):
            return value
        path = posixpath.normpath(unquote(value.split("#", 1)[0].split("?", 1)[0]))
        if path.startswith("..") or path == ".":
            return None
        view = "resolve" if element == "img" else "blob"
        return f"{repo_url}/{view}/{quote(revision, safe='')}/{quote(path)}"

    return rewrite


def _html_depth_exceeds(html_text: str, limit: int) -> bool:
    """Whether elements in `html_text` nest deeper than `limit`, counted in one linear pass.

    The sanitiser's HTML parser takes quadratic time in the nesting depth (a line of 100,000 '>'
    is 100,000 nested blockquotes), so deeper documents are not handed to it.
    """
    depth = 0
    for closing, name, self_closing in _TAG_RE.findall(html_text):
        if self_closing or name.lower() in VOID_ELEMENTS:
            continue
        if closing:
            depth = max(depth - 1, 0)
            continue
        depth += 1
        if depth > limit:
            return True
    return False


def render_markdown(text: str, *, repo_url: str = "", revision: str = "main") -> str:
    """Markdown to HTML through an allow-list; with `repo_url`, relative links open the repo's files.

    cmark-gfm parses in linear time whatever the input (Python-Markdown took minutes on 10 KB of
    '['); raw HTML is passed to the sanitiser, which keeps only the allow-list.
    """
    rendered = cmarkgfm.markdown_to_html_with_extensions(
        text, options=CmarkOptions.CMARK_OPT_UNSAFE, extensions=GFM_EXTENSIONS
    )
    if len(rendered) > MAX_RENDERED_HTML_BYTES or _html_depth_exceeds(rendered, MAX_HTML_DEPTH):
        return TOO_COMPLEX_HTML
    return nh3.clean(
        rendered,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        attribute_filter=_repo_link_rewriter(repo_url, revision) if repo_url else None,
    )


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value if item is not None and not isinstance(item, (dict, list))]
    if isinstance(value, (dict,)):
        return []
    return [str(value)]


def indexed_fields(metadata: dict) -> dict:
    """The metadata Flywheel filters on, each value a short string or a list of strings."""
    first = lambda key: (_as_list(metadata.get(key)) or [""])[0][:64]  # noqa: E731
    return {
        "license": first("license"),
        "pipeline_tag": first("pipeline_tag"),
        "library_name": first("library_name"),
        "tags": [t[:100] for t in _as_list(metadata.get("tags"))],
        "base_model": _as_list(metadata.get("base_model")),
        "datasets": _as_list(metadata.get("datasets")),
        "language": _as_list(metadata.get("language")),
    }


def card_tags(metadata: dict) -> list[str]:
    """All tags a repository is found by, the way the public hub derives them from the card."""
    fields = indexed_fields(metadata)
    tags = list(fields["tags"])
    for key in ("license", "pipeline_tag", "library_name"):
        if fields[key]:
            tags.append(f"license:{fields[key]}" if key == "license" else fields[key])
    tags += [f"dataset:{name}" for name in fields["datasets"]]
    tags += [f"base_model:{name}" for name in fields["base_model"]]
    tags += fields["language"]
    seen: dict[str, None] = {}
    for tag in tags:
        seen.setdefault(tag[:100], None)
    return list(seen)


def summary_of(body: str) -> str:
    """The first paragraph of plain text, for listings and search."""
    for block in re.split(r"\n\s*\n", body):
        line = block.strip()[:MAX_SUMMARY_SOURCE]
        if line and not line.startswith(("#", "```", "|", "<", "!", "---")):
            plain = MARKDOWN_LINK_RE.sub(r"\1", line)  # [text](url) -> text, whatever the url
            plain = html.unescape(nh3.clean(plain, tags=set()))  # no markup at all, only its text
            plain = re.sub(r"[*_`]", "", plain)
            return " ".join(plain.split())[:300]
    return ""
