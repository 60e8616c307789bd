"""REST v1 for the signed-in account: who am I, and personal API tokens."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.models import ApiToken


def _require_write_scope(request) -> None:
    # A read token must not be able to mint or revoke tokens: that would be an escalation.
    token = request.auth
    if isinstance(token, ApiToken) and not token.can_write:
        raise PermissionDenied("This token has the read scope; managing tokens needs a write token or a session.")


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    class OrgSerializer(serializers.Serializer):
        name = serializers.CharField(source="organization.name")
        role = serializers.CharField()

    class OutputSerializer(serializers.Serializer):
        username = serializers.CharField()
        full_name = serializers.CharField()
        email = serializers.EmailField()
        orgs = serializers.ListField(child=serializers.DictField())
        auth = serializers.DictField()
        scope = serializers.ChoiceField(choices=ApiToken.Scope.choices)

        class Meta:
            ref_name = "Account"

    @extend_schema(responses=OutputSerializer, summary="The account behind this request")
    def get(self, request):
        user = request.user
        token = request.auth if isinstance(request.auth, ApiToken) else None
        orgs = self.OrgSerializer(selectors.organizations_for_user(user=user), many=True).data
        auth = {"type": "token", "name": token.name, "scope": token.scope} if token else {"type": "session"}
        body = {
            "username": user.username,
            "full_name": user.full_name,
            "email": user.email,
            "orgs": orgs,
            "auth": auth,
            "scope": token.scope if token else "write",
        }
        return Response(body)


class TokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "scope", "prefix", "created_at", "last_used_at", "revoked_at"]


class TokenListView(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        scope = serializers.ChoiceField(choices=ApiToken.Scope.choices, default=ApiToken.Scope.READ)

        class Meta:
            ref_name = "TokenCreate"

    class CreatedSerializer(TokenSerializer):
        token = serializers.CharField(help_text="The secret. It is shown only in this response.")

        class Meta(TokenSerializer.Meta):
            fields = [*TokenSerializer.Meta.fields, "token"]

    @extend_schema(responses=TokenSerializer(many=True), summary="Your API tokens (never their secrets)")
    def get(self, request):
        return Response(TokenSerializer(selectors.token_list_for_user(user=request.user), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: CreatedSerializer}, summary="Create an API token")
    def post(self, request):
        _require_write_scope(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            created = services.token_create(user=request.user, **data.validated_data)
        except ValidationError as exc:
            return Response({"error": exc.messages[0]}, status=status.HTTP_400_BAD_REQUEST)
        body = {**TokenSerializer(created.token).data, "token": created.secret}
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


class TokenDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={204: None}, summary="Revoke an API token")
    def delete(self, request, token_id: int):
        _require_write_scope(request)
        get_object_or_404(ApiToken, pk=token_id, user=request.user)
        services.token_revoke(user=request.user, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
