from django.urls import re_path

from feedback import api

api_urlpatterns = [
    re_path(r"^generations/(?P<generation_id>[^/]+)/rating/?$", api.RatingApi.as_view(), name="generation-rating"),
]
