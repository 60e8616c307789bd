"""Identity leaks: an output that names a model or a vendor tells the voter who wrote it, so the battle
cannot be blind and is dropped."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.conf import settings

MIN_TERM = 3  # shorter names ("ai", "x") would match ordinary words


def _variants(name: str) -> set[str]:
    """A model name as people write it: 'tiny-stories' also as 'tiny stories' and 'tiny_stories'."""
    name = name.strip().lower()
    spaced = re.sub(r"[-_.]+", " ", name)
    return {name, spaced, spaced.replace(" ", "-"), spaced.replace(" ", "_")}


def leak_terms(repo_ids: Iterable[str]) -> list[str]:
    """The names that give a battle away: each model's id, owner and name, and the configured vendors."""
    terms: set[str] = set()
    for repo_id in repo_ids:
        namespace, _, name = repo_id.partition("/")
        for part in (repo_id, namespace, name):
            terms |= _variants(part)
    terms |= {v.strip().lower() for v in settings.FLYWHEEL_ARENA_LEAK_NAMES if v.strip()}
    return sorted((t for t in terms if len(t) >= MIN_TERM), key=len, reverse=True)


def identity_leak(texts: Iterable[str], repo_ids: Iterable[str]) -> str | None:
    """The first name found in any of `texts` as a whole word (any case), or None."""
    terms = leak_terms(repo_ids)
    if not terms:
        return None
    pattern = re.compile(r"(?<![\w-])(" + "|".join(re.escape(t) for t in terms) + r")(?![\w-])", re.IGNORECASE)
    for text in texts:
        found = pattern.search(text)
        if found:
            return found.group(1)
    return None
