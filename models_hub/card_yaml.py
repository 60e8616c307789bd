"""Reading a card's YAML metadata with bounded cost, whatever the input.

PyYAML's pure-Python parser is quadratic or worse on nested flow collections (a few KB of `[`
took seconds to minutes), its constructor recurses once per level, and aliases let a few lines
expand into gigabytes once serialised. So, in order, each step cheap enough for the next:
a size limit, a one-pass estimate of the nesting depth, a pass over the parser's events (libyaml
when present) that stops at the first alias or at too deep a level, then the load itself.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from models_hub.storable import holds_nul

MAX_METADATA_BYTES = 256 * 1024
MAX_DEPTH = 32
# Building each value costs Python objects and garbage-collector time: 100,000 parser events (about
# 0.6 s of CPU) leave room for a 250 KB card of evaluation results, which needs about 33,000.
MAX_EVENTS = 100_000
# Without libyaml, the pure-Python parser is about ten times slower: it gets a tenth of the room.
PURE_MAX_METADATA_BYTES = 64 * 1024
PURE_MAX_EVENTS = 10_000
# The estimate may count brackets inside plain text, so it only refuses what is certainly hostile.
MAX_ESTIMATED_DEPTH = 2 * MAX_DEPTH
# How far back on a line a quote looks for what precedes it (keeps the scan linear on long lines).
QUOTE_LOOKBACK = 120
BOOL_TAG = "tag:yaml.org,2002:bool"
INT_TAG = "tag:yaml.org,2002:int"
MAX_NUMBER_LENGTH = 100

_FLOW_TOKENS = re.compile(r"""[\[\]{}'"#\n]""")
_LINE_PREFIX = re.compile(r"([ ]*)((?:[-?](?:[ ]+|(?=[\r\n])|\Z))*)")
_SINGLE_QUOTED_REST = re.compile(r"[^']*(?:''[^']*)*'")
_DOUBLE_QUOTED_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


class MetadataError(ValueError):
    """The metadata cannot be read; the message says why, for the person who wrote it."""


def estimated_depth(text: str, *, stop_above: int = MAX_ESTIMATED_DEPTH) -> int:
    """How deeply `text` nests, from indentation levels and flow brackets, in one linear pass.

    Not a parser: quoted scalars and comments are skipped so that their brackets do not count, and
    the estimate stops growing once it passes `stop_above`. The exact check is the event pass.
    """
    deepest = flow = block = 0
    indents: list[int] = []
    pos = line_begin = 0
    at_line_start = True
    while deepest <= stop_above:
        if at_line_start:
            at_line_start = False
            prefix = _LINE_PREFIX.match(text, pos)
            rest = text[prefix.end() : prefix.end() + 1]
            if flow == 0 and rest not in ("", "\n", "\r", "#"):
                indent = len(prefix.group(1))
                while indents and indents[-1] > indent:
                    indents.pop()
                if not indents or indents[-1] < indent:
                    indents.append(indent)
                block = len(indents) + prefix.group(2).count("-") + prefix.group(2).count("?")
                deepest = max(deepest, block)
            pos = prefix.end()
        token = _FLOW_TOKENS.search(text, pos)
        if token is None:
            break
        char, at = token.group(), token.start()
        pos = at + 1
        if char == "\n":
            at_line_start, line_begin = True, pos
        elif char == "#" and (at == 0 or text[at - 1] in " \t\n"):
            newline = text.find("\n", at)
            if newline < 0:
                break
            pos = newline
        elif char in "'\"" and _starts_quoted_scalar(text[max(line_begin, at - QUOTE_LOOKBACK) : at]):
            rest = (_SINGLE_QUOTED_REST if char == "'" else _DOUBLE_QUOTED_REST).match(text, pos)
            if rest is None:
                break  # never closed: the parser reports it
            pos = rest.end()
        elif char in "[{":
            flow += 1
            deepest = max(deepest, block + flow)
        elif char in "]}":
            flow = max(flow - 1, 0)
    return deepest


def _starts_quoted_scalar(before: str) -> bool:
    """Whether a quote after `before` (the line so far) opens a quoted scalar, not text in a plain one."""
    before = before.rstrip(" \t")
    if not before or before[-1] in "[{,":
        return True
    last = before.split()[-1]
    return last in ("-", "?") or last.endswith(":") or last[0] in "!&"


def _loader_class(base: type) -> type:
    """`base` (a safe loader) with YAML 1.2 booleans, no sexagesimal numbers, and duplicate keys refused.

    The public hub reads cards with js-yaml (YAML 1.2): there `language: no` is Norwegian, not
    false, and `1:2:3` is text. Sexagesimal integers also cost quadratic time to build.
    """

    class CardLoader(base):
        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                self.flatten_mapping(node)
                seen = set()
                for key_node, _value in node.value:
                    key = self.construct_object(key_node, deep=deep)
                    try:
                        duplicate = key in seen
                        seen.add(key)
                    except TypeError:
                        continue  # unhashable: the base class reports it
                    if duplicate:
                        raise ConstructorError(
                            "while constructing a mapping",
                            node.start_mark,
                            f"found duplicate key {key!r}",
                            key_node.start_mark,
                        )
            return super().construct_mapping(node, deep=deep)

        def construct_yaml_int(self, node):
            if ":" in node.value:
                raise ConstructorError(None, None, f"{node.value[:40]!r} is not an integer", node.start_mark)
            if len(node.value) > MAX_NUMBER_LENGTH:
                raise ConstructorError(
                    None, None, f"a number has more than {MAX_NUMBER_LENGTH} digits", node.start_mark
                )
            return super().construct_yaml_int(node)

    CardLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in (BOOL_TAG, INT_TAG)]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }
    CardLoader.add_implicit_resolver(BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    CardLoader.add_implicit_resolver(
        INT_TAG,
        re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
        list("-+0123456789"),
    )
    CardLoader.add_constructor(INT_TAG, CardLoader.construct_yaml_int)
    return CardLoader


PURE_LOADER = _loader_class(yaml.SafeLoader)
# libyaml (C) parses in linear time; wheels ship it on every common platform.
LOADER = _loader_class(yaml.CSafeLoader) if getattr(yaml, "__with_libyaml__", False) else PURE_LOADER


def _describe(exc: yaml.YAMLError, first_line: int) -> str:
    """The parser's message with README.md line numbers, without PyYAML's '<unicode string>' noise."""
    if not isinstance(exc, yaml.MarkedYAMLError) or not exc.problem:
        return str(exc)
    text = f"{exc.context}: {exc.problem}" if exc.context else exc.problem
    mark = exc.problem_mark or exc.context_mark
    if mark is not None:
        text += f" (line {mark.line + first_line}, column {mark.column + 1})"
    return text


def _max_bytes(loader: type) -> int:
    return PURE_MAX_METADATA_BYTES if loader is PURE_LOADER else MAX_METADATA_BYTES


def _check_events(text: str, loader: type, first_line: int) -> None:
    depth = 0
    max_events = PURE_MAX_EVENTS if loader is PURE_LOADER else MAX_EVENTS
    for count, event in enumerate(yaml.parse(text, Loader=loader)):
        if count > max_events:
            raise MetadataError(f"The YAML metadata holds too many values (more than {max_events:,} parser events).")
        if isinstance(event, yaml.AliasEvent):
            # Aliases can expand a few lines into gigabytes ("billion laughs"); cards never need them.
            raise MetadataError("The YAML metadata uses aliases (*name), which are not allowed.")
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + first_line
                raise MetadataError(f"The YAML metadata nests deeper than {MAX_DEPTH} levels (line {line}).")
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


def load_metadata(text: str, *, first_line: int = 1, loader: type = LOADER) -> dict[str, Any]:
    """The YAML mapping in `text` as JSON-compatible data ({} when empty). Raises MetadataError.

    `first_line` is the README.md line where `text` starts, so messages point at the right line.
    """
    size, max_bytes = len(text.encode("utf-8", errors="surrogatepass")), _max_bytes(loader)
    if size > max_bytes:
        raise MetadataError(f"The YAML metadata is {size:,} bytes; at most {max_bytes:,} bytes are allowed.")
    if estimated_depth(text) > MAX_ESTIMATED_DEPTH:
        raise MetadataError(f"The YAML metadata nests deeper than {MAX_DEPTH} levels.")
    try:
        _check_events(text, loader, first_line)
        reader = loader(text)
        try:
            metadata = reader.get_single_data()
        finally:
            reader.dispose()
    except yaml.YAMLError as exc:
        raise MetadataError(f"Invalid YAML: {_describe(exc, first_line)}") from None
    except UnicodeError:  # libyaml reads UTF-8: a lone surrogate cannot be encoded
        raise MetadataError("Invalid YAML: the metadata contains characters that are not valid Unicode.") from None
    except MetadataError:
        raise
    except (ValueError, OverflowError, RecursionError) as exc:  # from a constructor, e.g. the date 2024-13-45
        raise MetadataError(f"Invalid YAML: {exc}") from None
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise MetadataError("The YAML metadata must be a mapping of keys to values.")
    try:
        # Dates and other YAML types become strings, so the metadata can be stored and served as JSON.
        metadata = json.loads(json.dumps(metadata, default=str, allow_nan=False))
    except (TypeError, ValueError):
        raise MetadataError(
            "The YAML metadata has keys that are not plain text or numbers, or numbers JSON cannot hold (.inf, .nan)."
        ) from None
    if holds_nul(metadata):  # a "\0" escape: PostgreSQL cannot store it
        raise MetadataError("The YAML metadata contains a NUL character (\\0), which cannot be stored.")
    return metadata
