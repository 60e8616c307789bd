from django.urls import path, re_path

from training import api, promote_api

api_urlpatterns = [
    re_path(r"^training-runs/?$", api.RunStartApi.as_view(), name="run-start"),
    path("training-runs/<int:run_id>", api.RunDetailApi.as_view(), name="run-detail"),
    path("training-runs/<int:run_id>/cancel", api.RunCancelApi.as_view(), name="run-cancel"),
    path("training-runs/<int:run_id>/promote", promote_api.RunPromoteApi.as_view(), name="run-promote"),
    path(
        "models/<str:namespace>/<str:name>/promotions", promote_api.ModelPromotionListApi.as_view(), name="promotions"
    ),
    path("models/<str:namespace>/<str:name>/rollback", promote_api.ModelRollbackApi.as_view(), name="rollback"),
]
