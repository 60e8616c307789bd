"""Bulk import of external feedback: JSONL lines of prompt, output and rating, checked one by one and the
valid ones written at once, each as a finished generation on the revision's exact commit with its rating.

Hostile bodies cost bounded work: the body, each line, the number of lines and the nesting of each line's
JSON are capped before anything is parsed, and every text is capped after.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from feedback.models import Rating, RatingTag
from feedback.services import MAX_TEXT
from inference.models import Generation
from models_hub.models import Commit, Repository

MAX_BODY_BYTES = 20 * 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024
MAX_LINES = 50_000
MAX_DEPTH = 8  # the format needs 3 (line, rating, tags)
MAX_OUTPUT_CHARS = 100_000
MAX_RATER_CHARS = 200
MAX_TAGS = 20
MAX_REJECTIONS_LISTED = 1_000

LINE_KEYS = {"prompt", "output", "rating", "rater", "model", "revision"}
RATING_KEYS = {"thumb", "stars", "tags", "comment", "correction"}


class LineError(ValueError):
    pass


@dataclass(frozen=True)
class ImportedLine:
    number: int
    prompt: str
    output: str
    thumb: str
    stars: int | None
    tags: list[str]
    comment: str
    correction: str
    rater: str | None


@dataclass
class ImportResult:
    imported: int = 0
    rejected: list[dict] = field(default_factory=list)
    rejected_count: int = 0

    def reject(self, line: int, error: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REJECTIONS_LISTED:
            self.rejected.append({"line": line, "error": error})


def _deeper_than(value: object, limit: int) -> bool:
    """Whether containers nest more than `limit` levels (iterative: no recursion on hostile input)."""
    level = [(value, 1)]
    while level:
        item, depth = level.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        level.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _text(value: object, name: str, *, cap: int, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise LineError(f"'{name}' must be a string.")
    if required and not value.strip():
        raise LineError(f"'{name}' must not be empty.")
    if len(value) > cap:
        raise LineError(f"'{name}' is too long: at most {cap:,} characters.")
    if "\x00" in value:
        raise LineError(f"'{name}' contains a NUL character.")
    return value


def _unknown(keys: set[str], known: set[str], where: str) -> None:
    extra = sorted(keys - known)
    if extra:
        raise LineError(f"Unknown field {extra[0]!r} in {where}: use {', '.join(sorted(known))}.")


def parse_line(
    number: int, raw: bytes, *, known_tags: set[str], repo_id: str, revisions: set[str]
) -> ImportedLine | None:
    """One line checked (None for a blank line); LineError says what is wrong with it."""
    if len(raw) > MAX_LINE_BYTES:
        raise LineError(f"The line is too long: at most {MAX_LINE_BYTES:,} bytes.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineError(f"Not valid UTF-8 (byte {exc.start + 1} of the line).") from None
    text = text.removeprefix("\ufeff").strip()
    if not text:
        return None
    try:
        # The decoder guards its own recursion; the line cap bounds its work.
        data = json.loads(text)
    except RecursionError:
        data = None
        deep = True
    except ValueError as exc:
        raise LineError(f"Not valid JSON: {exc}.") from None
    else:
        deep = _deeper_than(data, MAX_DEPTH)
    if deep:
        raise LineError(f"The JSON is nested too deeply: at most {MAX_DEPTH} levels.")
    if not isinstance(data, dict):
        raise LineError("Each line must be a JSON object with 'prompt', 'output' and 'rating'.")
    _unknown(set(data), LINE_KEYS, "the line")
    if "model" in data and data["model"] != repo_id:
        raise LineError(f"'model' is {data['model']!r}, but this import is for {repo_id}.")
    if "revision" in data and data["revision"] not in revisions:
        raise LineError(f"'revision' is {data['revision']!r}, but this import is for {sorted(revisions)[0]}.")
    rating = data.get("rating")
    if not isinstance(rating, dict):
        raise LineError("'rating' must be an object with 'thumb', 'stars', 'tags', 'comment' or 'correction'.")
    _unknown(set(rating), RATING_KEYS, "'rating'")
    thumb = rating.get("thumb") or ""
    if thumb not in ("", Rating.Thumb.UP, Rating.Thumb.DOWN):
        raise LineError(f"'thumb' must be 'up' or 'down', got {thumb!r}.")
    stars = rating.get("stars")
    if stars is not None and (isinstance(stars, bool) or not isinstance(stars, int) or stars not in range(1, 6)):
        raise LineError(f"'stars' must be a whole number from 1 to 5, or null; got {json.dumps(stars)[:40]}.")
    tags = rating.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise LineError("'tags' must be a list of tag names.")
    if len(tags) > MAX_TAGS:
        raise LineError(f"Too many tags: at most {MAX_TAGS}.")
    unknown = [t for t in tags if t not in known_tags]
    if unknown:
        raise LineError(f"Unknown tag {unknown[0][:40]!r}: use one of {', '.join(sorted(known_tags))}.")
    comment = _text(rating.get("comment"), "comment", cap=MAX_TEXT)
    correction = _text(rating.get("correction"), "correction", cap=MAX_TEXT)
    if not thumb and stars is None and not tags and not comment and not correction:
        raise LineError("The rating needs at least a thumb, stars, a tag, a comment or a correction.")
    rater = data.get("rater")
    if rater is not None:
        rater = _text(rater, "rater", cap=MAX_RATER_CHARS, required=True).strip()
    return ImportedLine(
        number=number,
        prompt=_text(data.get("prompt"), "prompt", cap=settings.FLYWHEEL_MAX_PROMPT_CHARS, required=True),
        output=_text(data.get("output"), "output", cap=MAX_OUTPUT_CHARS, required=True),
        thumb=thumb,
        stars=stars,
        tags=sorted(set(tags)),
        comment=comment,
        correction=correction,
        rater=rater,
    )


def parse_body(
    body: bytes, *, repo: Repository, commit: Commit, revision: str
) -> tuple[list[ImportedLine], ImportResult]:
    """Every line of a JSONL body: the good ones, and a result that lists the rejected ones and why."""
    result = ImportResult()
    lines = body.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the final newline ends the last line, it does not start another
    if len(lines) > MAX_LINES:
        raise LineError(f"Too many lines: at most {MAX_LINES:,} a request; send the rest in another.")
    known_tags = set(RatingTag.objects.filter(active=True).values_list("slug", flat=True))
    revisions = {revision, commit.oid}
    accepted = []
    for number, raw in enumerate(lines, start=1):
        try:
            line = parse_line(
                number, raw.removesuffix(b"\r"), known_tags=known_tags, repo_id=repo.repo_id, revisions=revisions
            )
        except LineError as exc:
            result.reject(number, str(exc))
            continue
        if line is not None:
            accepted.append(line)
    return accepted, result


def feedback_import(*, repo: Repository, commit: Commit, revision: str, importer: User, body: bytes) -> ImportResult:
    """Import a JSONL body of external feedback onto `commit` of `repo`, as `importer` (who may write to it).

    Each valid line becomes a finished generation (the output as its text, source "api") and the importer's
    rating of it, with the line's `rater` kept as `external_rater`. Imported ratings come from outside,
    so they are not marked as the maintainers' own. The valid lines are written together or not at all.
    """
    lines, result = parse_body(body, repo=repo, commit=commit, revision=revision)
    if not lines:
        return result
    now = timezone.now()
    generations = [
        Generation(
            user=importer,
            repository=repo,
            commit=commit,
            revision=revision,
            source=Generation.Source.API,
            prompt=line.prompt,
            text=line.output,
            status=Generation.Status.DONE,
            finish_reason="imported",
            # What produced an imported output is unknown: neutral settings, as a plain greedy run would show.
            max_new_tokens=0,
            temperature=0.0,
            top_p=1.0,
            top_k=0,
            repetition_penalty=1.0,
            seed=0,
            created_at=now,
            finished_at=now,
        )
        for line in lines
    ]
    ratings = [
        Rating(
            generation=generation,
            user=importer,
            thumb=line.thumb,
            stars=line.stars,
            tags=line.tags,
            comment=line.comment,
            correction=line.correction,
            external_rater=line.rater,
            by_maintainer=False,
            created_at=now,
            updated_at=now,
        )
        for generation, line in zip(generations, lines, strict=True)
    ]
    with transaction.atomic():
        Generation.objects.bulk_create(generations, batch_size=500)
        Rating.objects.bulk_create(ratings, batch_size=500)
    result.imported = len(lines)
    return result
