"""Writes for the arena: start a battle, settle its state, record who saw it, vote, pin a pair, review voters."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from feedback.arena.leaks import identity_leak
from feedback.arena.models import ArenaPin, Battle, BattleView, BattleVote, VoterReview
from feedback.arena.sampling import pair_sample
from feedback.models import Prompt
from inference.api import split_model_id
from inference.models import Generation
from inference.selectors import model_for_generation
from inference.services import TooManyRequests, generation_request
from models_hub.errors import BadRequest, Conflict
from models_hub.models import Commit, Repository
from models_hub.selectors import repo_access, revision_resolve

REFIT_DEBOUNCE_KEY = "arena:refit-queued"


def prompt_hash(prompt: str) -> str:
    """Case and spacing folded, so 'Hello  world' and 'hello world' count as the same prompt."""
    return hashlib.sha256(" ".join(prompt.lower().split()).encode()).hexdigest()


@dataclass(frozen=True)
class Side:
    repository: Repository
    commit: Commit
    revision: str  # as asked (a branch, a tag or a commit id): the outputs record it, the reveal shows it


def _check_prompt(prompt: str) -> str:
    if not prompt.strip():
        raise BadRequest("The prompt is empty: write one, or battle on a pinned comparison's prompts.")
    cap = settings.FLYWHEEL_ARENA_MAX_PROMPT_CHARS
    if len(prompt) > cap:
        raise BadRequest(f"The prompt is too long: at most {cap:,} characters, this one has {len(prompt):,}.")
    return prompt


def _side(user: User, model: str) -> Side:
    if not isinstance(model, str):
        raise BadRequest(f"Each model must be 'owner/name' or 'owner/name@revision', got {model!r}.")
    namespace, name, revision = split_model_id(model.strip())
    repo = model_for_generation(user=user, namespace=namespace, name=name)  # 404 for those who cannot see it
    if repo.kind != Repository.Kind.MODEL:
        raise BadRequest(f"{repo.repo_id} is a dataset repository; a battle needs models.")
    return Side(repo, revision_resolve(repo, revision or "main"), revision or "main")


def check_pair(a: Side, b: Side) -> None:
    if a.commit.pk == b.commit.pk:
        raise BadRequest(
            f"A battle needs two different revisions: {a.repository.repo_id}@{a.revision} and "
            f"{b.repository.repo_id}@{b.revision} are both commit {a.commit.oid[:7]}."
        )
    if a.repository.pk != b.repository.pk and a.repository.pipeline_tag != b.repository.pipeline_tag:
        raise BadRequest(
            f"{a.repository.repo_id} ({a.repository.pipeline_tag or 'no task'}) and {b.repository.repo_id} "
            f"({b.repository.pipeline_tag or 'no task'}) do different tasks: battle revisions of one model, "
            "or of models with the same pipeline tag."
        )


def battle_create(
    *, user: User, prompt: str = "", models: Sequence[str] | None = None, pin: ArenaPin | None = None
) -> Battle:
    """Start a battle for `user`: their prompt on the two models they named (or two drawn for them), or, for a
    pinned pair, an open battle on one of its prompts. Both outputs are queued for the inference worker."""
    if pin is not None:
        return battle_for_pin(user=user, pin=pin)
    prompt = _check_prompt(prompt)
    if models:
        if len(models) != 2:
            raise BadRequest(f"'models' names the two models of the battle; {len(models)} were given.")
        a, b = _side(user, models[0]), _side(user, models[1])
    else:
        first, second = pair_sample(user)
        a, b = (Side(c.repository, c.commit, c.revision) for c in (first, second))
    check_pair(a, b)
    return battle_start(user=user, prompt=prompt, a=a, b=b)


@transaction.atomic
def battle_start(
    *,
    user: User | None,
    prompt: str,
    a: Side,
    b: Side,
    pin: ArenaPin | None = None,
    source_prompt: Prompt | None = None,
    rng: random.Random | None = None,
) -> Battle:
    """Queue both outputs (same settings, same seed) and record the battle with the sides in random order.
    `user` None: a battle opened for everyone (a pinned pair's prompts), outputs generated for nobody."""
    check_pair(a, b)
    if (rng or random.SystemRandom()).random() < 0.5:
        a, b = b, a
    params = {"max_new_tokens": settings.FLYWHEEL_ARENA_MAX_NEW_TOKENS, "seed": random.SystemRandom().randrange(2**31)}
    source = Generation.Source.API if user is not None else Generation.Source.BATCH
    generations = [
        generation_request(
            user=user, repo=side.repository, revision=side.revision, prompt=prompt, params=params, source=source
        )
        for side in (a, b)
    ]
    if any(g.commit_id != side.commit.pk for g, side in zip(generations, (a, b), strict=True)):
        # The branch moved between choosing the pair and queueing (the transaction leaves nothing behind).
        raise Conflict("A revision of this battle moved just now; please start the battle again.")
    return Battle.objects.create(
        created_by=user,
        prompt=prompt,
        prompt_hash=prompt_hash(prompt),
        pin=pin,
        source_prompt=source_prompt,
        generation_a=generations[0],
        generation_b=generations[1],
        repository_a=a.repository,
        commit_a=a.commit,
        repository_b=b.repository,
        commit_b=b.commit,
        created_at=timezone.now(),
    )


def battle_for_pin(*, user: User, pin: ArenaPin) -> Battle:
    """An open battle of the pinned pair that `user` has not voted on, or a new one on a prompt of its set."""
    if not pin.active:
        raise BadRequest(f"The comparison {pin.name!r} is closed.")
    open_battle = (
        Battle.objects.filter(pin=pin, status__in=(Battle.Status.GENERATING, Battle.Status.READY))
        .exclude(votes__user=user)
        .order_by("created_at")
        .first()
    )
    if open_battle is not None:
        return open_battle
    prompts = Prompt.objects.filter(prompt_set_id=pin.prompt_set_id) if pin.prompt_set_id else Prompt.objects.none()
    used = Battle.objects.filter(pin=pin, votes__user=user).values("source_prompt_id")
    prompt = prompts.exclude(pk__in=used).order_by("?").first() or prompts.order_by("?").first()
    if prompt is None:
        raise BadRequest(f"The comparison {pin.name!r} has no prompts left for you: write your own.")
    return battle_start(
        user=None,
        prompt=prompt.text,
        a=Side(pin.repository_a, pin.commit_a, pin.commit_a.oid),
        b=Side(pin.repository_b, pin.commit_b, pin.commit_b.oid),
        pin=pin,
        source_prompt=prompt,
    )


def battle_refresh(battle: Battle) -> Battle:
    """Settle a generating battle once both outputs have finished: open for votes, or dropped when an output
    names a model or vendor, or failed. The update is conditional, so two readers at once agree."""
    if battle.status != Battle.Status.GENERATING:
        return battle
    generations = {g.pk: g for g in Generation.objects.filter(pk__in=[battle.generation_a_id, battle.generation_b_id])}
    a, b = generations.get(battle.generation_a_id), generations.get(battle.generation_b_id)
    if a is None or b is None or not (a.is_finished and b.is_finished):
        if a is not None and b is not None:
            battle.generation_a, battle.generation_b = a, b
        return battle
    fields: dict = {"status": Battle.Status.READY, "drop_reason": ""}
    if a.status != Generation.Status.DONE or b.status != Generation.Status.DONE:
        fields = {"status": Battle.Status.FAILED, "drop_reason": "An output failed or was stopped."}
    else:
        leaked = identity_leak([a.text, b.text], [battle.repository_a.repo_id, battle.repository_b.repo_id])
        if leaked:
            fields = {
                "status": Battle.Status.DROPPED,
                "drop_reason": f"An output names a model or vendor ({leaked!r}), so the battle cannot be blind.",
            }
    Battle.objects.filter(pk=battle.pk, status=Battle.Status.GENERATING).update(**fields)
    battle.refresh_from_db()
    battle.generation_a, battle.generation_b = a, b
    return battle


def battle_seen(*, battle: Battle, user: User | None) -> None:
    """Remember that `user` was shown both finished outputs (only then may they vote)."""
    if user is None or not user.is_authenticated or battle.status != Battle.Status.READY:
        return
    BattleView.objects.bulk_create(
        [BattleView(battle=battle, user=user, seen_at=timezone.now())], ignore_conflicts=True
    )


def next_reset(now: datetime) -> datetime:
    """When the daily vote count starts again: the next midnight UTC."""
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def _check_daily_cap(user: User, now: datetime) -> None:
    cap = settings.FLYWHEEL_ARENA_VOTES_PER_DAY
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if BattleVote.objects.filter(user=user, created_at__gte=midnight).count() >= cap:
        reset = next_reset(now)
        raise TooManyRequests(
            f"Daily vote limit reached: {cap} votes a day. It resets at {reset:%Y-%m-%d %H:%M} UTC.",
            retry_after=max(1, int((reset - now).total_seconds())),
        )


def battle_vote(*, battle: Battle, user: User, winner: str) -> BattleVote:
    """Record `user`'s one vote on a battle they were shown. Conflict (409) for a second vote, a battle still
    generating, dropped or failed, or one they never opened; TooManyRequests past the daily cap."""
    if winner not in Battle.Winner.values:
        raise BadRequest(f"'winner' must be one of {', '.join(Battle.Winner.values)}; got {winner!r}.")
    battle = battle_refresh(battle)
    if battle.status == Battle.Status.GENERATING:
        raise Conflict("Both outputs must finish before you vote. Try again in a moment.")
    if battle.status != Battle.Status.READY:
        raise Conflict(f"This battle is closed: {battle.drop_reason or battle.status}")
    if BattleVote.objects.filter(battle=battle, user=user).exists():
        raise Conflict("You have already voted on this battle.")
    if not BattleView.objects.filter(battle=battle, user=user).exists():
        raise Conflict("Open the battle and read both outputs before voting.")
    now = timezone.now()
    by_member = repo_access(battle.repository_a, user).member or repo_access(battle.repository_b, user).member
    try:
        with transaction.atomic():
            # One voter's votes are counted and written one at a time, so a burst cannot pass the daily cap.
            User.objects.select_for_update().filter(pk=user.pk).values_list("pk").first()
            _check_daily_cap(user, now)
            vote = BattleVote.objects.create(
                battle=battle, user=user, winner=winner, by_member=by_member, created_at=now
            )
    except IntegrityError:  # the same person's vote arrived twice at once: the unique constraint keeps one
        raise Conflict("You have already voted on this battle.") from None
    transaction.on_commit(leaderboard_refit_soon, robust=True)
    return vote


def leaderboard_refit_soon() -> None:
    """After a vote: a refit now and one when FLYWHEEL_ARENA_REFIT_DEBOUNCE_SECONDS have passed, unless a vote
    in that window already queued them (a burst of votes costs two refits, and its last vote is counted)."""
    window = settings.FLYWHEEL_ARENA_REFIT_DEBOUNCE_SECONDS
    if cache.add(REFIT_DEBOUNCE_KEY, 1, timeout=window):
        from feedback.arena.tasks import leaderboard_refit

        leaderboard_refit.delay()
        leaderboard_refit.apply_async(countdown=window, expires=window + 600)


def pin_create(
    *,
    name: str,
    a: Side,
    b: Side,
    prompt_set=None,
    user: User | None = None,
    training_run_id: int | None = None,
) -> ArenaPin:
    check_pair(a, b)
    return ArenaPin.objects.create(
        name=name[:200],
        repository_a=a.repository,
        commit_a=a.commit,
        repository_b=b.repository,
        commit_b=b.commit,
        prompt_set=prompt_set,
        training_run_id=training_run_id,
        created_by=user,
        created_at=timezone.now(),
    )


def pin_open_battles(*, pin: ArenaPin, limit: int | None = None) -> list[Battle]:
    """One open battle per prompt of the pin's set that has none yet (safe to run twice)."""
    limit = limit or settings.FLYWHEEL_ARENA_PIN_BATTLES
    done = set(Battle.objects.filter(pin=pin).values_list("source_prompt_id", flat=True))
    prompts = [p for p in Prompt.objects.filter(prompt_set_id=pin.prompt_set_id)[:limit] if p.pk not in done]
    a = Side(pin.repository_a, pin.commit_a, pin.commit_a.oid)
    b = Side(pin.repository_b, pin.commit_b, pin.commit_b.oid)
    return [battle_start(user=None, prompt=p.text, a=a, b=b, pin=pin, source_prompt=p) for p in prompts]


def voter_exclude(*, user: User, staff: User, reason: str = "") -> VoterReview:
    """Leave a voter's votes out of the leaderboard (kept, not counted) and refit without them."""
    return _review(user=user, staff=staff, status=VoterReview.Status.EXCLUDED, reason=reason)


def voter_clear(*, user: User, staff: User, reason: str = "") -> VoterReview:
    """Count a flagged or excluded voter again; the test does not flag them again."""
    return _review(user=user, staff=staff, status=VoterReview.Status.CLEARED, reason=reason)


def _review(*, user: User, staff: User, status: str, reason: str) -> VoterReview:
    now = timezone.now()
    review, _ = VoterReview.objects.update_or_create(
        user=user,
        defaults={"status": status, "reviewed_by": staff, "reviewed_at": now, "reason": reason[:300]},
        create_defaults={
            "status": status,
            "reviewed_by": staff,
            "reviewed_at": now,
            "reason": reason[:300],
            "flagged_at": now,
        },
    )
    from feedback.arena.tasks import leaderboard_refit

    transaction.on_commit(lambda: leaderboard_refit.delay(), robust=True)
    return review
