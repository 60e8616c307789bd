"""Streaming parser for the Hub's NDJSON commit body.

The stock client sends each regular file inline, base64-encoded, on one NDJSON line, so one line
can be gigabytes long. This parser reads the request in 1 MiB pieces and never holds a line in
memory: it is a small incremental JSON parser in which the `content` string of a line's `value`
object is decoded from base64 piece by piece straight into a temporary blob file, hashing as it
goes. Every other string (paths, summaries, ids) is small and bounded; whatever else a line holds
is limited to MAX_LINE_OVERHEAD bytes. Peak memory is therefore about two read chunks, whatever
the body size.
"""

from __future__ import annotations

import binascii
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from models_hub.errors import BadRequest, InvalidRepoPath, PayloadTooLarge
from models_hub.services.upload_checks import clean_folder_path, clean_path
from models_hub.storage.blobs import BlobTooLarge, write_stream_to_temp

READ_CHUNK = 1024 * 1024
# Everything on one line except the streamed file content: paths, summary, description, ids.
MAX_LINE_OVERHEAD = 4 * 1024 * 1024
MAX_DEPTH = 16
MAX_OPERATIONS = 100_000
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_CONTROL = re.compile(rb"[\x00-\x1f]")
_SIMPLE_ESCAPES = {
    ord('"'): b'"',
    ord("\\"): b"\\",
    ord("/"): b"/",
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
}
_NOT_BLANK = re.compile(rb"[^ \t\r]")
_NUMBER_BYTES = frozenset(b"+-.0123456789eE")


class CommitStreamError(BadRequest):
    """The commit body is not valid NDJSON, or a line is not a valid commit operation."""


@dataclass
class StreamedFile:
    """A file's bytes, already decoded into a temporary file (owned until stored or discarded)."""

    temp_path: str
    sha256: str
    size: int

    def discard(self) -> None:
        if os.path.exists(self.temp_path):
            os.unlink(self.temp_path)


@dataclass(frozen=True)
class LfsReference:
    path: str
    oid: str
    size: int | None  # None for copies, which the client sends without a size


@dataclass
class ParsedCommit:
    summary: str = ""
    description: str = ""
    parent_commit: str | None = None
    has_header: bool = False
    files: dict[str, StreamedFile] = field(default_factory=dict)  # path -> bytes; last one wins
    lfs_files: dict[str, LfsReference] = field(default_factory=dict)
    deleted_files: list[str] = field(default_factory=list)
    deleted_folders: list[str] = field(default_factory=list)

    def discard(self) -> None:
        """Remove every temporary file that was not stored as a blob."""
        for streamed in self.files.values():
            streamed.discard()
        self.files.clear()


class _Input:
    """Buffered reader over the request stream, with a byte budget for everything but file content."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self.buf = b""
        self.pos = 0
        self.eof = False
        self.line = 1
        self.budget = MAX_LINE_OVERHEAD
        self._backslash = -1  # position of the next backslash in buf (len(buf) if none), -1 if unknown

    def error(self, message: str) -> CommitStreamError:
        return CommitStreamError(f"Invalid commit payload (line {self.line}): {message}")

    def fill(self) -> bool:
        """Make sure at least one unread byte is buffered; False at the end of the body."""
        if self.pos < len(self.buf):
            return True
        if self.eof:
            return False
        data = self._read(READ_CHUNK)
        if not data:
            self.eof = True
            self.buf, self.pos = b"", 0
            return False
        self.buf, self.pos = data, 0
        self._backslash = -1
        return True

    def spend(self, count: int) -> None:
        self.budget -= count
        if self.budget < 0:
            raise self.error(f"a line carries more than {MAX_LINE_OVERHEAD:,} bytes outside file contents.")

    def peek(self) -> int | None:
        return self.buf[self.pos] if self.fill() else None

    def take(self) -> int:
        if not self.fill():
            raise self.error("the body ends in the middle of a JSON value.")
        byte = self.buf[self.pos]
        self.pos += 1
        self.spend(1)
        return byte

    def skip_space(self, *, newlines: bool) -> int | None:
        """Skip blanks (and newlines between lines when allowed); return the next byte, unread."""
        while self.fill():
            match = _NOT_BLANK.search(self.buf, self.pos)
            end = match.start() if match else len(self.buf)
            self.spend(end - self.pos)
            self.pos = end
            if match is None:
                continue
            byte = self.buf[end]
            if byte != 0x0A or not newlines:
                return byte
            self.line += 1
            self.pos += 1
            self.spend(1)
        return None

    def expect(self, char: bytes) -> None:
        self.skip_space(newlines=False)
        got = self.take()
        if got != char[0]:
            raise self.error(f"expected {char.decode()!r}, found {chr(got)!r}.")

    def string_pieces(self, *, budgeted: bool) -> Iterator[bytes | memoryview]:
        """Yield the raw (escape-decoded) bytes of a JSON string whose opening quote was read.

        bytes.find (memchr) finds the end quote at memory speed; a regular expression would cap
        the parser at about 100 MB/s. Control characters are checked on small strings here and,
        for file content, by the strict base64 decoder, which refuses every non-base64 byte.
        """
        while True:
            if not self.fill():
                raise self.error("the body ends inside a string.")
            buf, start = self.buf, self.pos
            quote = buf.find(b'"', start)
            if self._backslash < start:
                found = buf.find(b"\\", start)
                self._backslash = found if found >= 0 else len(buf)
            end = min(quote if quote >= 0 else len(buf), self._backslash)
            if end > start:
                piece = memoryview(buf)[start:end]
                if budgeted:
                    self.spend(end - start)
                    if _CONTROL.search(piece):
                        raise self.error("a string contains a raw control character (such as a newline).")
                yield piece
                self.pos = end
            if end == len(buf):
                continue
            self.pos = end + 1
            if end == quote:
                return
            yield self._escape()

    def _escape(self) -> bytes:
        code = self.take()
        if code in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[code]
        if code != ord("u"):
            raise self.error(f"unknown escape '\\{chr(code)}' in a string.")
        unit = self._hex4()
        if 0xD800 <= unit < 0xDC00:  # a surrogate pair spells one character outside the BMP
            if self.take() != 0x5C or self.take() != ord("u"):
                raise self.error("a lone UTF-16 surrogate in a string.")
            low = self._hex4()
            if not 0xDC00 <= low < 0xE000:
                raise self.error("a lone UTF-16 surrogate in a string.")
            unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
        elif 0xDC00 <= unit < 0xE000:
            raise self.error("a lone UTF-16 surrogate in a string.")
        return chr(unit).encode()

    def _hex4(self) -> int:
        digits = bytes(self.take() for _ in range(4))
        try:
            return int(digits, 16)
        except ValueError:
            raise self.error("a bad \\u escape in a string.") from None


class _LineParser:
    """Recursive-descent JSON over _Input; streams `value.content` of a line into a temporary file."""

    def __init__(self, source: _Input, max_file_bytes: int) -> None:
        self.src = source
        self.max_file_bytes = max_file_bytes
        self.streamed: StreamedFile | None = None

    def line(self) -> dict:
        self.src.budget = MAX_LINE_OVERHEAD
        return self._object(depth=1, on_key=self._top_level_member)

    def _top_level_member(self, key: str, depth: int) -> Any:
        if key == "value" and self.src.skip_space(newlines=False) == ord("{"):
            return self._object(depth=depth + 1, on_key=self._value_member)
        return self._value(depth + 1)

    def _value_member(self, key: str, depth: int) -> Any:
        if key == "content" and self.src.skip_space(newlines=False) == ord('"'):
            self.src.take()
            if self.streamed is not None:  # a repeated key: the last one wins, as in JSON
                self.streamed.discard()
            self.streamed = self._stream_base64()
            return self.streamed
        return self._value(depth + 1)

    def _stream_base64(self) -> StreamedFile:
        try:
            temp_path, sha256, size = write_stream_to_temp(
                _decode_base64(self.src.string_pieces(budgeted=False), self.src.error),
                max_bytes=self.max_file_bytes,
            )
        except BlobTooLarge as exc:
            raise PayloadTooLarge(f"Line {self.src.line}: {exc}") from None
        return StreamedFile(temp_path=temp_path, sha256=sha256, size=size)

    def _value(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise self.src.error(f"JSON nested deeper than {MAX_DEPTH} levels.")
        byte = self.src.skip_space(newlines=False)
        if byte == ord("{"):
            return self._object(depth=depth, on_key=lambda _key, d: self._value(d + 1))
        if byte == ord("["):
            return self._array(depth)
        if byte == ord('"'):
            self.src.take()
            return self._small_string()
        if byte is not None and (byte in _NUMBER_BYTES or byte in b"tfn"):
            return self._scalar()
        if byte is None or byte == 0x0A:
            raise self.src.error("a JSON value is missing.")
        raise self.src.error(f"unexpected character {chr(byte)!r}.")

    def _object(self, *, depth: int, on_key: Callable[[str, int], Any]) -> dict:
        self.src.expect(b"{")
        result: dict[str, Any] = {}
        if self.src.skip_space(newlines=False) == ord("}"):
            self.src.take()
            return result
        while True:
            self.src.expect(b'"')
            key = self._small_string()
            self.src.expect(b":")
            result[key] = on_key(key, depth)
            self.src.skip_space(newlines=False)
            separator = self.src.take()
            if separator == ord("}"):
                return result
            if separator != ord(","):
                raise self.src.error(f"expected ',' or '}}' in an object, found {chr(separator)!r}.")

    def _array(self, depth: int) -> list:
        self.src.expect(b"[")
        result: list[Any] = []
        if self.src.skip_space(newlines=False) == ord("]"):
            self.src.take()
            return result
        while True:
            result.append(self._value(depth + 1))
            self.src.skip_space(newlines=False)
            separator = self.src.take()
            if separator == ord("]"):
                return result
            if separator != ord(","):
                raise self.src.error(f"expected ',' or ']' in an array, found {chr(separator)!r}.")

    def _small_string(self) -> str:
        raw = b"".join(self.src.string_pieces(budgeted=True))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.src.error("a string is not valid UTF-8.") from None

    def _scalar(self) -> Any:
        token = bytearray()
        while (byte := self.src.peek()) is not None and (byte in _NUMBER_BYTES or ord("a") <= byte <= ord("z")):
            token.append(self.src.take())
        try:
            return json.loads(token)
        except ValueError:
            raise self.src.error(f"{token[:20].decode(errors='replace')!r} is not a JSON value.") from None


def _decode_base64(pieces: Iterator[bytes | memoryview], error: Callable[[str], Exception]) -> Iterator[bytes]:
    """Decode base64 text arriving in arbitrary pieces; strict (no junk, padding only at the end).

    Pieces are decoded in place (memoryviews, no copies); only a split quad is carried over.
    """
    carry = b""
    finished = False

    def decode(quads: bytes | memoryview) -> bytes:
        nonlocal finished
        if finished:
            raise error("the base64 content goes on after its padding.")
        try:
            decoded = binascii.a2b_base64(quads, strict_mode=True)
        except binascii.Error as exc:
            raise error(f"the file content is not valid base64 ({exc}).") from None
        finished = quads[-1] == ord("=")
        return decoded

    for piece in pieces:
        view = memoryview(piece)
        if carry:
            take = min(4 - len(carry), len(view))
            carry += view[:take].tobytes()
            view = view[take:]
            if len(carry) < 4:
                continue
            yield decode(carry)
            carry = b""
        cut = len(view) - len(view) % 4
        carry = view[cut:].tobytes()
        if cut:
            yield decode(view[:cut])
    if carry:
        raise error("the base64 content is truncated (its length is not a multiple of 4).")


def _require_str(value: dict, name: str, src: _Input) -> str:
    item = value.get(name)
    if not isinstance(item, str):
        raise src.error(f"'{name}' must be a string.")
    return item


def _checked_path(raw: str, src: _Input, *, folder: bool = False) -> str:
    try:
        return clean_folder_path(raw) if folder else clean_path(raw)
    except InvalidRepoPath as exc:
        raise InvalidRepoPath(src.error(exc.message).message) from None


def _apply_line(parsed: ParsedCommit, line: dict, streamed: StreamedFile | None, src: _Input) -> None:
    key = line.get("key")
    value = line.get("value")
    if not isinstance(value, dict):
        raise src.error("each line must be an object with 'key' and an object 'value'.")
    if key == "header":
        if parsed.has_header:
            raise src.error("the commit has two header lines.")
        parsed.has_header = True
        summary, description, parent = value.get("summary"), value.get("description"), value.get("parentCommit")
        if not isinstance(summary, str) or not isinstance(description or "", str):
            raise src.error("the header needs a string 'summary' (and an optional string 'description').")
        if parent is not None and not isinstance(parent, str):
            raise src.error("'parentCommit' must be a commit id.")
        parsed.summary, parsed.description, parsed.parent_commit = summary, description or "", parent
    elif key == "file":
        path = _checked_path(_require_str(value, "path", src), src)
        if streamed is None:
            raise src.error(f"{path}: a 'file' line needs a base64 string 'content'.")
        if value.get("encoding", "base64") != "base64":
            raise src.error(f"{path}: only base64 'encoding' is supported.")
        parsed.lfs_files.pop(path, None)
        previous = parsed.files.pop(path, None)
        if previous is not None:
            previous.discard()
        parsed.files[path] = streamed
        return
    elif key == "lfsFile":
        path = _checked_path(_require_str(value, "path", src), src)
        oid = _require_str(value, "oid", src).lower()
        size = value.get("size")
        if value.get("algo", "sha256") != "sha256" or not SHA256_RE.match(oid):
            raise src.error(f"{path}: an LFS file needs algo 'sha256' and a 64-hex 'oid'.")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise src.error(f"{path}: 'size' must be a non-negative integer.")
        previous = parsed.files.pop(path, None)
        if previous is not None:
            previous.discard()
        parsed.lfs_files[path] = LfsReference(path=path, oid=oid, size=size)
    elif key == "deletedFile":
        parsed.deleted_files.append(_checked_path(_require_str(value, "path", src), src))
    elif key == "deletedFolder":
        parsed.deleted_folders.append(_checked_path(_require_str(value, "path", src), src, folder=True))
    else:
        raise src.error(f"unknown key {key!r} (expected header, file, lfsFile, deletedFile or deletedFolder).")
    if streamed is not None:  # content on a line that does not add a file: nothing to keep
        streamed.discard()


def parse_commit_stream(
    read: Callable[[int], bytes],
    *,
    max_file_bytes: int | None = None,
    on_header: Callable[[ParsedCommit], None] | None = None,
) -> ParsedCommit:
    """Parse an NDJSON commit body from `read(n)`; file contents end up in temporary files.

    `on_header` runs as soon as the header line is read (the client sends it first), so a stale
    parentCommit can be refused before gigabytes of content are received.

    Raises CommitStreamError (400) or PayloadTooLarge (413); on any error no temporary file is left.
    The caller owns the temporary files of the result and must store or discard() them.
    """
    limit = settings.FLYWHEEL_MAX_UPLOAD_BYTES if max_file_bytes is None else max_file_bytes
    source = _Input(read)
    parsed = ParsedCommit()
    try:
        while source.skip_space(newlines=True) is not None:
            if len(parsed.files) + len(parsed.lfs_files) + len(parsed.deleted_files) >= MAX_OPERATIONS:
                raise CommitStreamError(
                    f"Invalid commit payload: more than {MAX_OPERATIONS:,} operations in one commit."
                )
            parser = _LineParser(source, limit)
            try:
                line = parser.line()
                following = source.skip_space(newlines=False)
                if following not in (None, 0x0A):
                    raise source.error("one JSON object per line is expected.")
                had_header = parsed.has_header
                _apply_line(parsed, line, parser.streamed, source)
                if on_header is not None and parsed.has_header and not had_header:
                    on_header(parsed)
            except BaseException:
                if parser.streamed is not None:
                    parser.streamed.discard()
                raise
        if not parsed.has_header:
            raise CommitStreamError("Invalid commit payload: the header line (with the commit summary) is missing.")
    except BaseException:
        parsed.discard()
        raise
    return parsed
