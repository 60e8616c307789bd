"""Reads of generations that check who may see them, and where a queued one stands."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

from accounts.models import User
from inference.models import Generation
from inference.snapshot import UnusableModel, check_runnable
from models_hub.errors import GatedRepo, NotFound
from models_hub.models import Commit, Repository, TreeEntry
from models_hub.selectors import repo_access_for
from models_hub.storage.blobs import blob_open

if TYPE_CHECKING:
    from inference.watch import Progress


def model_for_generation(*, user: User | None, namespace: str, name: str) -> Repository:
    """A model `user` may run: they can read it and, for a gated model, download its weights."""
    access = repo_access_for(user, kind=Repository.Kind.MODEL, namespace=namespace, name=name)
    refusal = access.gate_refusal()
    if refusal:
        raise GatedRepo(refusal)
    return access.repo


def generation_get_for_user(*, generation_id: str, user: User | None) -> Generation:
    """A generation its requester (or staff) may see; outputs generated for the rating queue are visible to
    everyone who can read the model. Anything else is NotFound, as if it did not exist."""
    try:
        pk = uuid.UUID(str(generation_id))
    except ValueError:
        raise NotFound(f"There is no generation '{generation_id}'.") from None
    generation = Generation.objects.select_related("repository", "commit", "user").filter(pk=pk).first()
    if generation is None or not _visible(generation, user):
        raise NotFound(f"There is no generation '{generation_id}'.")
    return generation


def _visible(generation: Generation, user: User | None) -> bool:
    authenticated = user is not None and user.is_authenticated
    if authenticated and (user.is_staff or generation.user_id == user.pk):
        return True
    if generation.source != Generation.Source.BATCH:
        return False
    if not generation.repository.private:  # visible_to's first clause, without a query for the common case
        return True
    return Repository.objects.visible_to(user).filter(pk=generation.repository_id).exists()


def queue_position(generation: Generation | Progress) -> int:
    """1 for the next generation a worker takes; 0 once it is running or finished."""
    if generation.status != Generation.Status.QUEUED:
        return 0
    ahead = Generation.objects.filter(status=Generation.Status.QUEUED, created_at__lt=generation.created_at).count()
    return ahead + 1


# Where transformers keeps a chat template: its own file (recent versions) or a key of tokenizer_config.json.
CHAT_TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")
MAX_TOKENIZER_CONFIG_BYTES = 4 * 1024 * 1024


def has_chat_template(commit: Commit) -> bool:
    """Whether the tokenizer at `commit` has a chat template, read from the stored files (no torch, one query
    and at most one small file read)."""
    wanted = (*CHAT_TEMPLATE_FILES, "tokenizer_config.json")
    entries = {e.path: e for e in TreeEntry.objects.filter(commit=commit, path__in=wanted).select_related("blob")}
    if any(path in entries for path in CHAT_TEMPLATE_FILES):
        return True
    config = entries.get("tokenizer_config.json")
    if config is None or config.blob.size > MAX_TOKENIZER_CONFIG_BYTES:
        return False
    with blob_open(config.blob) as handle:
        raw = handle.read(MAX_TOKENIZER_CONFIG_BYTES + 1)
    try:
        parsed = json.loads(raw)
    except ValueError:  # not JSON (UnicodeDecodeError is a ValueError too): no template we could use
        return False
    return isinstance(parsed, dict) and bool(parsed.get("chat_template"))


def runnable_refusal(commit: Commit) -> str | None:
    """Why `commit` cannot be generated from (not a causal LM in safetensors), or None if it can."""
    paths = set(TreeEntry.objects.filter(commit=commit).values_list("path", flat=True))
    try:
        check_runnable({p for p in paths if "/" not in p}, paths)
    except UnusableModel as exc:
        return str(exc)
    return None
