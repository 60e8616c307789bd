from django.urls import path, re_path

from feedback import api, import_api, pages, views

api_urlpatterns = [
    re_path(r"^generations/(?P<generation_id>[^/]+)/rating/?$", api.RatingApi.as_view(), name="generation-rating"),
    path("models/<str:namespace>/<str:name>/feedback/import", import_api.FeedbackImportApi.as_view(), name="import"),
]

MODEL = {"kind": "model"}

# Pages (session and CSRF): the rating panel's form, used under every finished output.
page_urlpatterns = [
    path("generations/<uuid:generation_id>/rate", views.rating_save, name="rating-save"),
    path("rate", pages.rate_next, name="rate-next"),
    path("rate/<int:campaign_id>", pages.rate_next, name="rate-campaign"),
    path("<str:namespace>/<str:name>/campaigns", pages.campaign_list, MODEL, name="campaign-list"),
    path("<str:namespace>/<str:name>/campaigns/new", pages.campaign_new, MODEL, name="campaign-new"),
    path(
        "<str:namespace>/<str:name>/campaigns/<int:campaign_id>",
        pages.campaign_detail,
        MODEL,
        name="campaign-detail",
    ),
]
