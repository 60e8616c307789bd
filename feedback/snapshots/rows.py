"""Pure rules of a snapshot's rows: no ORM, plain values in, rows out.

- Near-duplicate prompts: a prompt's key is the SHA-256 of its normalised text (Unicode NFKC, case folded,
  punctuation (Unicode category P: . , ! ? ' " - and the like) made a space, symbols kept, white space runs
  made one space, ends stripped), with the system prompt normalised the same way in front. Prompts with one key are one
  prompt: they share a split, pair with each other, and identical outputs for them are one row whose
  provenance lists every source.
- Split: by prompt key, so a prompt is never in both splits, and the same in every snapshot: a prompt goes to
  validation when the first 60 bits of its key, as a fraction of 2**60, are below the validation fraction.
  If none is, and there are at least two prompts, the prompt with the smallest key goes (a small snapshot
  still gets a validation split).
- Raters: a keyed hash (HMAC-SHA-256) of their account, keyed by the site's secret and the snapshot's filters:
  the same in two snapshots with the same filters, unrelated across different filters, not reversible.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

_SPACES = re.compile(r"\s+")
SPLIT_BITS = 60
# ASCII punctuation (Unicode category P*); symbols such as + = < > $ stay: "2+2" and "2-2" are other prompts.
_ASCII_PUNCTUATION = str.maketrans({c: " " for c in "!\"#%&'()*,-./:;?@[\\]_{}"})


def _without_punctuation(text: str) -> str:
    if text.isascii():
        return text.translate(_ASCII_PUNCTUATION)
    return "".join(" " if unicodedata.category(c).startswith("P") else c for c in text)


def normalise(text: str) -> str:
    # ASCII is its own NFKC form and its case fold is lower(): the common case skips both.
    text = text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).casefold()
    return _SPACES.sub(" ", _without_punctuation(text)).strip()


def prompt_key(prompt: str, system: str = "") -> str:
    return hashlib.sha256(f"{normalise(system) if system else ''}\x00{normalise(prompt)}".encode()).hexdigest()


def in_validation(key: str, fraction: float) -> bool:
    return int(key[: SPLIT_BITS // 4], 16) < fraction * 2**SPLIT_BITS


def pseudonym_key(secret: str, material: dict[str, Any]) -> bytes:
    settings_text = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hmac.new(secret.encode(), f"feedback-snapshot-raters\n{settings_text}".encode(), hashlib.sha256).digest()


def pseudonym(key: bytes, user_id: int, external_rater: str | None) -> str:
    """A rater's pseudonym; ratings imported for an application's users are told apart by their external id."""
    who = f"user:{user_id}" if not external_rater else f"external:{user_id}:{external_rater}"
    return hmac.new(key, who.encode(), hashlib.sha256).hexdigest()[:20]


def agreement(ups: int, downs: int) -> float | None:
    """The majority's share of the thumbs, when at least two raters gave one."""
    total = ups + downs
    return round(max(ups, downs) / total, 6) if total >= 2 else None


# One generation's ratings, reduced to what the rows need; written to and read from the bucket files as JSON.
# k: prompt key, p: prompt, s: system prompt, m: chat messages or None, t: output text, g: generation id,
# c: commit id, up / down: the thumbs counted for agreement, lab: the label its used thumbs give (1 liked,
# 0 disliked, None neither), v: those thumbs' ratings [[rating id, rater, time], ...], x: corrections
# [[rating id, rater, time, text], ...] (time: the rating's last change, POSIX seconds). A battle outcome (added by the arena) is {"k", "p", "s", "battle": {"chosen",
# "rejected", "generation_ids", "rating_ids", "model_commits", "raters"}}.


@dataclass
class Merged:
    """Outputs (or corrections) with the same text for one prompt: one row, every source in its provenance."""

    text: str
    generations: set[str] = field(default_factory=set)
    ratings: set[int] = field(default_factory=set)
    commits: set[str] = field(default_factory=set)
    raters: set[str] = field(default_factory=set)
    ups: int = 0
    downs: int = 0

    def add(self, record: dict, ratings: Iterable[list]) -> None:
        self.generations.add(record["g"])
        self.commits.add(record["c"])
        for rating in ratings:
            self.ratings.add(rating[0])
            self.raters.add(rating[1])


def _merge(entries: Iterable[tuple[str, dict, list]]) -> list[Merged]:
    merged: dict[str, Merged] = {}
    for text, record, ratings in entries:
        entry = merged.get(text)
        if entry is None:
            entry = merged[text] = Merged(text)
        entry.add(record, ratings)
        entry.ups += record.get("up", 0)
        entry.downs += record.get("down", 0)
    return [merged[text] for text in sorted(merged)]


def provenance(*parts: Merged, source: str, agreement_value: float | None) -> dict[str, Any]:
    if len(parts) == 1:  # most rows: no union to make
        generations, ratings, commits, raters = (
            parts[0].generations,
            parts[0].ratings,
            parts[0].commits,
            parts[0].raters,
        )
    else:
        generations, ratings, commits, raters = set(), set(), set(), set()
        for part in parts:
            generations |= part.generations
            ratings |= part.ratings
            commits |= part.commits
            raters |= part.raters
    return {
        "generation_ids": sorted(generations),
        "rating_ids": sorted(ratings),
        "model_commits": sorted(commits),
        "raters": sorted(raters),
        "agreement": agreement_value,
        "source": source,
    }


def _messages(record: dict, completion: str) -> list[dict[str, str]]:
    chat = [{"role": "system", "content": record["s"]}] if record.get("s") else []
    if record.get("m"):
        chat += [{"role": str(m.get("role", "")), "content": str(m.get("content", ""))} for m in record["m"]]
    else:
        chat.append({"role": "user", "content": record["p"]})
    chat.append({"role": "assistant", "content": completion})
    return chat


def _min_agreement(*parts: Merged) -> float | None:
    values = [a for a in (agreement(p.ups, p.downs) for p in parts) if a is not None]
    return min(values) if values else None


@dataclass
class GroupRows:
    sft: list[dict] = field(default_factory=list)
    preference: list[dict] = field(default_factory=list)
    kto: list[dict] = field(default_factory=list)
    ratings: set[int] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.sft or self.preference or self.kto)


def group_rows(records: list[dict], options) -> GroupRows:
    """The rows made from one prompt's records (the same key), in a fixed order. `options`: SnapshotFilters."""
    outputs = [r for r in records if "battle" not in r]
    battles = [r["battle"] for r in records if "battle" in r]
    canonical = min(records, key=lambda r: (r["p"], r.get("s", ""), r.get("g", "")))
    prompt = canonical["p"]
    liked = _merge((r["t"], r, r["v"]) for r in outputs if r.get("lab") == 1)
    disliked = _merge((r["t"], r, r["v"]) for r in outputs if r.get("lab") == 0)
    corrections = _merge((x[3], r, [x]) for r in outputs for x in r.get("x", ())) if options.include_corrections else []
    out = GroupRows()

    if options.include_liked:
        for entry in liked:
            prov = provenance(entry, source="rating", agreement_value=agreement(entry.ups, entry.downs))
            out.sft.append(
                {"prompt": prompt, "completion": entry.text, "messages": _messages(canonical, entry.text)} | prov
            )
    for entry in corrections:
        prov = provenance(entry, source="correction", agreement_value=None)
        out.sft.append(
            {"prompt": prompt, "completion": entry.text, "messages": _messages(canonical, entry.text)} | prov
        )

    if options.include_pairs and liked and disliked:
        for i in range(max(len(liked), len(disliked))):  # every rated output in at least one pair, no blow-up
            chosen, rejected = liked[i % len(liked)], disliked[i % len(disliked)]
            prov = provenance(chosen, rejected, source="rating", agreement_value=_min_agreement(chosen, rejected))
            out.preference.append({"prompt": prompt, "chosen": chosen.text, "rejected": rejected.text} | prov)
    if options.include_corrections:
        pairs = _merge(
            (f"{x[3]}\x00{r['t']}", r, [x]) for r in outputs for x in r.get("x", ()) if x[3].strip() != r["t"].strip()
        )
        for entry in pairs:
            chosen_text, rejected_text = entry.text.split("\x00", 1)
            prov = provenance(entry, source="correction", agreement_value=None)
            out.preference.append({"prompt": prompt, "chosen": chosen_text, "rejected": rejected_text} | prov)
    if options.include_battles:
        for battle in sorted(battles, key=lambda b: (b["chosen"], b["rejected"], b["generation_ids"])):
            prov = {
                "generation_ids": sorted(battle["generation_ids"]),
                "rating_ids": sorted(battle.get("rating_ids", ())),
                "model_commits": sorted(set(battle["model_commits"])),
                "raters": sorted(set(battle["raters"])),
                "agreement": battle.get("agreement"),
                "source": "battle",
            }
            out.preference.append({"prompt": prompt, "chosen": battle["chosen"], "rejected": battle["rejected"]} | prov)

    for label, entries in ((True, liked if options.include_liked else []), (False, disliked)):
        for entry in entries:
            prov = provenance(entry, source="rating", agreement_value=agreement(entry.ups, entry.downs))
            out.kto.append({"prompt": prompt, "completion": entry.text, "label": label} | prov)
    for entry in corrections:
        prov = provenance(entry, source="correction", agreement_value=None)
        out.kto.append({"prompt": prompt, "completion": entry.text, "label": True} | prov)

    for rows in (out.sft, out.preference, out.kto):
        for row in rows:
            out.ratings.update(row["rating_ids"])
    return out


def grouped(records: Iterable[dict]) -> Iterator[list[dict]]:
    """Consecutive records with the same key, from records sorted by key."""
    group: list[dict] = []
    for record in records:
        if group and record["k"] != group[0]["k"]:
            yield group
            group = []
        group.append(record)
    if group:
        yield group


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(row: dict) -> str:
    """One JSONL line: UTF-8 text as is, no spaces, keys in the order the row was built (fixed above)."""
    return _ENCODER.encode(row) + "\n"
