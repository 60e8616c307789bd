"""The snapshot builder: ratings streamed from the database into JSONL files, memory bounded whatever their number.

Pass 1 reads the matching ratings ordered by generation (`.iterator()`, a server-side cursor on PostgreSQL) and
reduces each generation's ratings to one record (rows.py), appended to one of up to 256 bucket files chosen by
the prompt key's first bits. Pass 2 reads the buckets in key order, one at a time, sorts each by key, and
writes each prompt's rows to the config/split files, hashing as it writes. Neither pass keeps more than one
bucket's records: nothing grows with the number of ratings but the files.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast

from accounts.models import User
from feedback.models import HiddenRater, Rating
from feedback.snapshots import rows as snapshot_rows
from feedback.snapshots.card import CONFIGS, SPLITS, card_text, path_of
from feedback.snapshots.filters import SnapshotFilters
from inference.models import Generation
from models_hub.models import Repository

CHUNK = 5_000
MAX_BUCKETS = 256
RECORDS_PER_BUCKET = 20_000
PROGRESS_EVERY = 20_000
READ_SHARE = 0.75  # of the progress bar: reading ratings; the rest is writing rows

COLUMNS = (
    "pk",
    "generation_key",
    "user_id",
    "external_rater",
    "thumb",
    "stars",
    "tags_text",
    "correction",
    "updated_at",
    "generation__prompt",
    "generation__system_prompt",
    "messages_text",
    "generation__text",
    "generation__commit__oid",
)


def rating_rows(queryset: QuerySet[Rating]) -> QuerySet:
    """The columns the builder reads, ordered by generation. The UUID and JSON columns come as text: no
    per-row converter runs (they cost more than the rest of the build), and JSON is parsed only when not empty."""
    return (
        queryset.annotate(
            generation_key=Cast("generation_id", TextField()),
            tags_text=Cast("tags", TextField()),
            messages_text=Cast("generation__messages", TextField()),
        )
        .order_by("generation_id", "pk")
        .values_list(*COLUMNS)
    )


def _uuid_text(value: str) -> str:
    """A UUID as text with dashes, whichever way the database stores it (SQLite: 32 hex digits)."""
    return value if len(value) == 36 else str(uuid.UUID(value))


def _json_list(value: str | None) -> list:
    return json.loads(value) if value and value not in ("[]", "null") else []


class NoRows(Exception):
    """The filters left nothing to write: the message says what matched and why no row was made."""


def candidate_ratings(model: Repository, filters: SnapshotFilters) -> QuerySet[Rating]:
    """The ratings a snapshot reads: the model's finished outputs, in the window, from people who did not opt out
    (and not from hidden raters unless asked). What each rating contributes is decided row by row."""
    # People left out are a short list: NOT IN (a hashed subquery) keeps the users table out of the join.
    opted_out = User.objects.filter(training_data_opt_out=True).values("pk")
    ratings = Rating.objects.filter(generation__repository=model, generation__status=Generation.Status.DONE).exclude(
        user_id__in=opted_out
    )
    if filters.commits:
        ratings = ratings.filter(generation__commit__oid__in=filters.commits)
    if filters.since:
        ratings = ratings.filter(updated_at__gte=filters.since)
    if filters.until:
        ratings = ratings.filter(updated_at__lt=filters.until)
    if filters.exclude_hidden_raters:
        ratings = ratings.exclude(user_id__in=HiddenRater.objects.values("user_id"))
    if not filters.include_maintainers:
        ratings = ratings.filter(by_maintainer=False)
    return ratings


def battle_records(
    model: Repository, filters: SnapshotFilters, pseudonym: Callable[[int, str | None], str]
) -> Iterator[dict]:
    """Battle outcomes as preference records ({"p", "s", "battle": {...}}, see rows.py), from the arena."""
    from feedback.arena.snapshot_rows import battle_records as arena_battle_records

    return arena_battle_records(model, filters, pseudonym)


def has_battle_rows(model: Repository, filters: SnapshotFilters) -> bool:
    """Whether the arena has at least one battle outcome for the snapshot (it may then hold battles only)."""
    return filters.include_battles and next(iter(battle_records(model, filters, lambda *_: "")), None) is not None


class HashedFile:
    """A file written once, with its SHA-256 and size computed on the way."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.handle = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.digest = hashlib.sha256()
        self.size = 0
        self.rows = 0

    def write(self, line: str) -> None:
        data = line.encode("utf-8", "replace")
        self.handle.write(data)
        self.digest.update(data)
        self.size += len(data)
        self.rows += 1

    def close(self) -> None:
        self.handle.close()


@dataclass
class BuiltFiles:
    """The finished files: repository path → (temporary path, sha256, size); `ratings_path`: the ids used."""

    files: dict[str, tuple[str, str, int]]
    counts: dict[str, int]
    ratings_used: int
    ratings_path: str
    ratings_seen: int = 0
    commits: list[str] = field(default_factory=list)
    window: tuple[str, str] | None = None  # the used ratings' first and last change


class _Reducer:
    """One generation's ratings in, one record out (or none when it contributes nothing)."""

    def __init__(self, filters: SnapshotFilters, pseudonym: Callable[[int, str | None], str]) -> None:
        self.filters = filters
        self.pseudonym = pseudonym
        self.excluded = set(filters.exclude_tags)

    def record(self, ratings: list[tuple]) -> dict | None:
        f = self.filters
        ups, downs, corrections = [], [], []
        thumbs_up = thumbs_down = 0
        tagged = False
        for rid, _g, user_id, external, thumb, stars, tags, correction, updated, *_rest in ratings:
            when = updated.timestamp()
            if thumb == "up":
                thumbs_up += 1
            elif thumb == "down":
                thumbs_down += 1
            if self.excluded and not tagged and tags and tags != "[]" and self.excluded.intersection(_json_list(tags)):
                tagged = True
            stars_ok = f.min_stars is None or (stars is not None and stars >= f.min_stars)
            if stars_ok and (thumb == "up" or (thumb == "down" and f.thumbs == "any")):
                (ups if thumb == "up" else downs).append([rid, self.pseudonym(user_id, external), when])
            if f.include_corrections and correction and correction.strip():
                corrections.append([rid, self.pseudonym(user_id, external), when, correction])
        agreed = snapshot_rows.agreement(thumbs_up, thumbs_down)
        if tagged or (f.min_agreement is not None and agreed is not None and agreed < f.min_agreement):
            ups, downs = [], []
        label = 1 if len(ups) > len(downs) else 0 if len(downs) > len(ups) else None
        if label is None and not corrections:
            return None
        _, generation_id, *_, prompt, system, messages, text, commit = ratings[0]
        messages = _json_list(messages) or None
        return {
            "k": snapshot_rows.prompt_key(prompt, system),
            "p": prompt,
            "s": system,
            "m": messages,
            "t": text,
            "g": _uuid_text(generation_id),
            "c": commit,
            "up": thumbs_up,
            "down": thumbs_down,
            "lab": label,
            "v": ups if label == 1 else downs if label == 0 else [],
            "x": corrections,
        }


def _bucket_count(total: int) -> int:
    count = 1
    while count < MAX_BUCKETS and count * RECORDS_PER_BUCKET < total:
        count *= 2
    return count


def _records(queryset: QuerySet[Rating]) -> Iterator[list[tuple]]:
    """The ratings, one generation's at a time."""
    batch: list[tuple] = []
    for row in rating_rows(queryset).iterator(chunk_size=CHUNK):
        if batch and row[1] != batch[0][1]:
            yield batch
            batch = []
        batch.append(row)
    if batch:
        yield batch


def build_files(
    *,
    model: Repository,
    filters: SnapshotFilters,
    snapshot_id: int,
    workdir: str,
    progress: Callable[[float], None],
) -> BuiltFiles:
    """Write the snapshot's files under `workdir`. Raises NoRows."""
    secret = snapshot_rows.pseudonym_key(settings.SECRET_KEY, {"model": model.pk, **filters.key_material()})
    names: dict[tuple[int, str | None], str] = {}

    def pseudonym(user_id: int, external: str | None) -> str:
        name = names.get((user_id, external))
        if name is None:
            name = names[(user_id, external)] = snapshot_rows.pseudonym(secret, user_id, external)
        return name

    queryset = candidate_ratings(model, filters)
    total = queryset.count()
    buckets = _bucket_count(total)
    bucket_paths = [os.path.join(workdir, f"bucket-{i:03d}.jsonl") for i in range(buckets)]
    handles = [open(path, "wb") for path in bucket_paths]  # noqa: SIM115 - closed below
    reducer = _Reducer(filters, pseudonym)
    seen = 0
    try:
        for group in _records(queryset):
            seen += len(group)
            if seen // PROGRESS_EVERY != (seen - len(group)) // PROGRESS_EVERY:
                progress(READ_SHARE * seen / max(total, 1))
            record = reducer.record(group)
            if record is not None:
                _append(handles[int(record["k"][:4], 16) * buckets >> 16], record)
        battles = 0
        if filters.include_battles:
            for record in battle_records(model, filters, pseudonym):
                record["k"] = snapshot_rows.prompt_key(record["p"], record.get("s", ""))
                _append(handles[int(record["k"][:4], 16) * buckets >> 16], record)
                battles += 1
    finally:
        for handle in handles:
            handle.close()
    if not total and not battles:
        raise NoRows("No ratings match these filters (model, revisions, time window, consent, hidden raters).")
    built = _write_rows(
        filters, bucket_paths, workdir, snapshot_id, lambda share: progress(READ_SHARE + (1 - READ_SHARE) * share)
    )
    built.ratings_seen = total
    if not any(built.counts.values()):
        raise NoRows(
            f"{total:,} ratings matched, but none makes a row with these settings"
            " (thumbs, stars, tags, agreement, what to include)."
        )
    return built


def _write_rows(
    filters: SnapshotFilters, bucket_paths: list[str], workdir: str, snapshot_id: int, progress: Callable[[float], None]
) -> BuiltFiles:
    outputs: dict[tuple[str, str], HashedFile] = {}

    def output(config: str, split: str) -> HashedFile:
        handle = outputs.get((config, split))
        if handle is None:
            handle = outputs[(config, split)] = HashedFile(os.path.join(workdir, f"{config}-{split}.jsonl"))
        return handle

    ratings_path = os.path.join(workdir, "ratings.tsv")
    commits: set[str] = set()
    used = 0
    window: list[float] = []
    started, pending = False, None  # the first prompt's rows wait until it is known whether another follows
    fraction = filters.validation_fraction

    def write(group_rows: snapshot_rows.GroupRows, split: str) -> None:
        for config in CONFIGS:
            rows = getattr(group_rows, config)
            if rows:
                handle = output(config, split)
                for row in rows:
                    handle.write(snapshot_rows.dumps(row))
                    commits.update(row["model_commits"])

    with open(ratings_path, "w", encoding="ascii") as ratings_file:
        for index, bucket_path in enumerate(bucket_paths):
            records = _read_bucket(bucket_path)
            os.unlink(bucket_path)
            records.sort(key=lambda r: r["k"])
            for group in snapshot_rows.grouped(records):
                made = snapshot_rows.group_rows(group, filters)
                if not made:
                    continue
                for record in group:
                    for entry in (*record.get("v", ()), *record.get("x", ())):
                        if entry[0] in made.ratings:
                            window.append(entry[2])
                if len(window) > 2:
                    window[:] = [min(window), max(window)]
                for rid in sorted(made.ratings):
                    ratings_file.write(f"{snapshot_id}\t{rid}\n")
                used += len(made.ratings)
                key = group[0]["k"]
                if not started:
                    started, pending = True, made
                    continue
                if pending is not None:
                    # The smallest key goes to validation: by its hash, or because no prompt would otherwise.
                    write(pending, "validation" if fraction > 0 else "train")
                    pending = None
                write(made, "validation" if snapshot_rows.in_validation(key, fraction) else "train")
            progress((index + 1) / len(bucket_paths))
    if pending is not None:
        write(pending, "train")  # a single prompt: train, so the dataset has a train split
    for handle in outputs.values():
        handle.close()
    files, counts = {}, {f"{c}_{s}": 0 for c in CONFIGS for s in SPLITS}
    for (config, split), handle in sorted(outputs.items()):
        counts[f"{config}_{split}"] = handle.rows
        if handle.rows:
            files[path_of(config, split)] = (handle.path, handle.digest.hexdigest(), handle.size)
    return BuiltFiles(
        files=files,
        counts=counts,
        ratings_used=used,
        ratings_path=ratings_path,
        commits=sorted(commits),
        window=(_utc(min(window)), _utc(max(window))) if window else None,
    )


def _append(handle, record: dict) -> None:
    data = marshal.dumps(record)
    handle.write(len(data).to_bytes(4, "little") + data)


def _read_bucket(path: str) -> list[dict]:
    """A bucket's records: length-prefixed marshal, the fastest format Python reads back, from a private
    temporary file this build wrote moments ago."""
    with open(path, "rb") as handle:
        data = memoryview(handle.read())
    records, offset = [], 0
    while offset < len(data):
        size = int.from_bytes(data[offset : offset + 4], "little")
        records.append(marshal.loads(data[offset + 4 : offset + 4 + size]))  # noqa: S302
        offset += 4 + size
    return records


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def readme_for(*, model: Repository, filters: SnapshotFilters, built: BuiltFiles) -> bytes:
    return card_text(
        model_id=model.repo_id,
        license_id=model.license or "other",
        filters=filters.key_material(),
        counts=built.counts,
        commits=built.commits,
        window=built.window,
        ratings_used=built.ratings_used,
    ).encode()
