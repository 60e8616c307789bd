from django.urls import path, re_path

from feedback import api, views

api_urlpatterns = [
    re_path(r"^generations/(?P<generation_id>[^/]+)/rating/?$", api.RatingApi.as_view(), name="generation-rating"),
]

# Pages (session and CSRF): the rating panel's form, used under every finished output.
page_urlpatterns = [
    path("generations/<uuid:generation_id>/rate", views.rating_save, name="rating-save"),
]
