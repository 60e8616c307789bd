"""Syntax highlighting for the file view (pygments), limited to small UTF-8 text files."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_for_filename
from pygments.util import ClassNotFound

from models_hub.models import Blob
from models_hub.storage.blobs import blob_open

MAX_HIGHLIGHT_BYTES = 1024 * 1024
CSS_CLASS = "highlight"


@dataclass(frozen=True)
class FilePreview:
    text: str | None  # None: binary or too big to show
    html: str = ""  # pygments output: every character of the file is escaped by the formatter
    reason: str = ""


def _formatter(style: str = "default") -> HtmlFormatter:
    return HtmlFormatter(cssclass=CSS_CLASS, linenos="table", wrapcode=True, style=style)


@functools.cache
def stylesheet() -> str:
    """The CSS for the classes pygments emits: light, and dark when the visitor's system is dark.

    Served as static/flywheel/highlight.css (no inline <style>, for the Content-Security-Policy);
    a test says when a new pygments release changes it."""
    light = _formatter().get_style_defs(f".{CSS_CLASS}")
    dark = _formatter("github-dark").get_style_defs(f".{CSS_CLASS}")
    return f"{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}"


def highlight_text(path: str, text: str) -> str:
    try:
        lexer = get_lexer_for_filename(path, stripnl=False)
    except ClassNotFound:
        lexer = TextLexer(stripnl=False)
    return highlight(text, lexer, _formatter())


def preview_blob(path: str, blob: Blob) -> FilePreview:
    if blob.size >= MAX_HIGHLIGHT_BYTES:
        return FilePreview(text=None, reason="This file is too large to display.")
    with blob_open(blob) as handle:
        data = handle.read(MAX_HIGHLIGHT_BYTES)
    if b"\x00" in data:
        return FilePreview(text=None, reason="This is a binary file.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return FilePreview(text=None, reason="This is a binary file.")
    return FilePreview(text=text, html=highlight_text(path, text))
