"""REST v1 for ratings: PUT a rating on an output (created or changed), GET yours back."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from feedback import services
from feedback.models import Rating
from inference.selectors import generation_get_for_user
from models_hub.api.common import ERRORS, Unauthorized, first_error
from models_hub.errors import BadRequest, NotFound


class RatingSerializer(serializers.Serializer):
    generation = serializers.UUIDField(source="generation_id", read_only=True)
    thumb = serializers.ChoiceField(choices=["up", "down", ""], required=False, allow_blank=True, default="")
    stars = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, max_value=5)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, default=list, max_length=20
    )
    comment = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    correction = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    by_maintainer = serializers.BooleanField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    class Meta:
        ref_name = "Rating"


class RatingApi(APIView):
    @extend_schema(responses={200: RatingSerializer, **ERRORS}, summary="Your rating of an output")
    def get(self, request: Request, generation_id: str) -> Response:
        generation = generation_get_for_user(generation_id=generation_id, user=request.user)
        rating = Rating.objects.filter(generation=generation, user_id=getattr(request.user, "pk", None)).first()
        if rating is None:
            raise NotFound("You have not rated this output.")
        return Response(RatingSerializer(rating).data)

    @extend_schema(
        request=RatingSerializer,
        responses={200: RatingSerializer, **ERRORS, 429: OpenApiResponse(description="Rate limited")},
        summary="Rate an output (created or updated: one rating per person per output)",
    )
    def put(self, request: Request, generation_id: str) -> Response:
        if not request.user.is_authenticated:
            raise Unauthorized("Authentication required: send 'Authorization: Bearer <token>'.")
        serializer = RatingSerializer(data=request.data)
        if not serializer.is_valid():
            raise BadRequest(first_error(serializer.errors))
        rating, created = services.rating_put(
            generation_id=generation_id, user=request.user, data=services.RatingInput(**serializer.validated_data)
        )
        return Response({**RatingSerializer(rating).data, "created": created})
