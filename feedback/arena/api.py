"""REST v1 for the arena: start a battle, read it (no model names before your vote), vote, the leaderboard."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from feedback.arena import selectors, services
from feedback.arena.models import Battle, BattleVote
from inference.api import split_model_id
from models_hub.api.common import ERRORS, Unauthorized, first_error
from models_hub.errors import BadRequest, Forbidden, RepoNotFound
from models_hub.selectors import repo_access_for

RATE_LIMITED = {429: OpenApiResponse(description="Daily vote limit reached: Retry-After says when it resets")}


def _signed_in(request: Request):
    if not request.user.is_authenticated:
        raise Unauthorized("Authentication required: send 'Authorization: Bearer <token>'.")
    return request.user


def side_json(battle: Battle, side: str, *, reveal: bool) -> dict:
    generation = getattr(battle, f"generation_{side}")
    body = {"text": generation.text, "status": generation.status}
    if reveal:
        commit = getattr(battle, f"commit_{side}")
        body.update(
            {
                "model": getattr(battle, f"repository_{side}").repo_id,
                "revision": generation.revision if generation.revision != commit.oid else commit.oid[:7],
                "commit": commit.oid,
            }
        )
    return body


def battle_json(battle: Battle, vote: BattleVote | None) -> dict:
    """The battle as its reader may see it: both outputs; the models and commits only after their vote."""
    reveal = vote is not None
    body = {
        "id": str(battle.pk),
        "status": battle.status,
        "prompt": battle.prompt,
        "a": side_json(battle, "a", reveal=reveal),
        "b": side_json(battle, "b", reveal=reveal),
        "pinned": battle.pin_id is not None,
        "drop_reason": battle.drop_reason,
        "created_at": battle.created_at.isoformat(),
        "your_vote": vote.winner if vote else None,
    }
    if vote is not None:
        body["counted"] = not vote.by_member
    return body


class BattleCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        prompt = serializers.CharField(allow_blank=True, trim_whitespace=False, required=False, default="")
        models = serializers.ListField(
            child=serializers.CharField(max_length=400),
            required=False,
            max_length=2,
            help_text="Two of 'owner/name' or 'owner/name@revision'; drawn for you when left out",
        )
        pin = serializers.IntegerField(required=False, help_text="A pinned comparison: battle on one of its prompts")

        class Meta:
            ref_name = "BattleCreate"

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        status = serializers.CharField()

        class Meta:
            ref_name = "BattleStarted"

    @extend_schema(
        request=InputSerializer,
        responses={202: OutputSerializer, **ERRORS, 429: OpenApiResponse(description="Rate limited")},
        summary="Start a battle: one prompt, two anonymous revisions",
    )
    def post(self, request: Request) -> Response:
        user = _signed_in(request)
        serializer = self.InputSerializer(data=request.data)
        if not serializer.is_valid():
            raise BadRequest(first_error(serializer.errors))
        data = serializer.validated_data
        pin = selectors.pin_get_for_user(pin_id=data["pin"], user=user) if "pin" in data else None
        battle = services.battle_create(user=user, prompt=data["prompt"], models=data.get("models"), pin=pin)
        return Response({"id": str(battle.pk), "status": battle.status}, status=status.HTTP_202_ACCEPTED)


BATTLE_EXAMPLE = inline_serializer(
    "Battle",
    {
        "id": serializers.UUIDField(),
        "status": serializers.ChoiceField(choices=Battle.Status.values),
        "prompt": serializers.CharField(),
        "a": inline_serializer("BattleSide", {"text": serializers.CharField(), "status": serializers.CharField()}),
        "b": inline_serializer("BattleSideB", {"text": serializers.CharField(), "status": serializers.CharField()}),
        "your_vote": serializers.CharField(allow_null=True),
    },
)


class BattleDetailApi(APIView):
    @extend_schema(
        responses={200: BATTLE_EXAMPLE, **ERRORS},
        summary="A battle: both outputs as they are written; model names only once you have voted",
    )
    def get(self, request: Request, battle_id: str) -> Response:
        battle = selectors.battle_get_for_user(battle_id=battle_id, user=request.user)
        battle = services.battle_refresh(battle)
        services.battle_seen(battle=battle, user=request.user)
        return Response(battle_json(battle, selectors.vote_of(battle=battle, user=request.user)))


class BattleVoteApi(APIView):
    class InputSerializer(serializers.Serializer):
        winner = serializers.CharField(help_text="a, b, tie or both_bad")

        class Meta:
            ref_name = "BattleVote"

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OpenApiResponse(description="The vote, with both models and commits revealed"),
            **ERRORS,
            409: OpenApiResponse(description="Already voted, outputs not finished, battle closed or never opened"),
            **RATE_LIMITED,
        },
        summary="Vote on a battle you have read (once)",
    )
    def post(self, request: Request, battle_id: str) -> Response:
        user = _signed_in(request)
        battle = selectors.battle_get_for_user(battle_id=battle_id, user=user)
        serializer = self.InputSerializer(data=request.data)
        if not serializer.is_valid():
            raise BadRequest(first_error(serializer.errors))
        vote = services.battle_vote(battle=battle, user=user, winner=serializer.validated_data["winner"])
        return Response({**battle_json(battle, vote), "winner": vote.winner})


LEADERBOARD_ROW = inline_serializer(
    "LeaderboardRow",
    {
        "model": serializers.CharField(),
        "commit": serializers.CharField(),
        "rating": serializers.FloatField(),
        "ci_low": serializers.FloatField(),
        "ci_high": serializers.FloatField(),
        "rank": serializers.IntegerField(allow_null=True, help_text="Empty below the minimum number of battles"),
        "battles": serializers.IntegerField(),
    },
    many=True,
)


def leaderboard_rows(entries) -> list[dict]:
    return [
        {
            "model": e.repository.repo_id,
            "commit": e.commit.oid,
            "rating": round(e.rating, 1),
            "ci_low": round(e.ci_low, 1),
            "ci_high": round(e.ci_high, 1),
            "rank": e.rank,
            "battles": e.battles,
        }
        for e in entries
    ]


def model_scope(request, model: str):
    """The repository a per-model leaderboard is about ('owner/name'), 404 for those who cannot see it."""
    namespace, name, _ = split_model_id(model)
    try:
        return repo_access_for(request.user, kind="model", namespace=namespace, name=name).repo
    except RepoNotFound:
        raise RepoNotFound(f"There is no model {model!r}.") from None


class LeaderboardApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("model", OpenApiTypes.STR, description="owner/name: that model's revisions only")],
        responses={200: LEADERBOARD_ROW, **ERRORS},
        summary="Bradley–Terry ratings with 95% bootstrap intervals and interval-respecting ranks",
    )
    def get(self, request: Request) -> Response:
        model = request.query_params.get("model", "").strip()
        repo = model_scope(request, model) if model else None
        _fit, entries = selectors.leaderboard_for_user(user=request.user, repo=repo)
        return Response(leaderboard_rows(entries))


class LeaderboardRefitApi(APIView):
    @extend_schema(request=None, responses={202: OpenApiResponse(description="Refit queued"), **ERRORS})
    def post(self, request: Request) -> Response:
        if not _signed_in(request).is_staff:
            raise Forbidden("Only staff can ask for a leaderboard refit.")
        from feedback.arena.tasks import leaderboard_refit

        leaderboard_refit.delay()
        return Response({"status": "queued"}, status=status.HTTP_202_ACCEPTED)
