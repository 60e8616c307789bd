"""Reads of generations that check who may see them, and where a queued one stands."""

from __future__ import annotations

import uuid

from accounts.models import User
from inference.models import Generation
from models_hub.errors import GatedRepo, NotFound
from models_hub.models import Repository
from models_hub.selectors import repo_access_for


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
    shared = generation.source == Generation.Source.BATCH
    return shared and Repository.objects.visible_to(user).filter(pk=generation.repository_id).exists()


def queue_position(generation: Generation) -> int:
    """1 for the next generation a worker takes; 0 once it is running or finished."""
    if generation.status != Generation.Status.QUEUED:
        return 0
    ahead = Generation.objects.filter(status=Generation.Status.QUEUED, created_at__lt=generation.created_at).count()
    return ahead + 1
