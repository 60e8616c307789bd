from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from feedback.arena.urls import api_urlpatterns as arena_api
from feedback.arena.urls import page_urlpatterns as arena_pages
from feedback.snapshots.urls import api_urlpatterns as snapshot_api
from feedback.snapshots.urls import page_urlpatterns as snapshot_pages
from feedback.urls import api_urlpatterns as rating_api
from feedback.urls import page_urlpatterns as rating_pages
from inference.urls import api_urlpatterns as generation_api
from inference.urls import openai_urlpatterns
from models_hub.views import profiles
from training.urls import api_urlpatterns as training_api

admin.site.site_header = "Flywheel administration"
admin.site.site_title = "Flywheel admin"
admin.site.index_title = "Administration"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up code as a script of its own, so no inline script is needed.
    path("api/v1/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # ReDoc styles itself with injected <style> elements and searches in a blob: worker.
    path(
        "api/v1/redoc/",
        csp_update({"style-src": [UNSAFE_INLINE], "worker-src": ["blob:"]})(
            SpectacularRedocView.as_view(url_name="api-schema")
        ),
        name="api-redoc",
    ),
    path("api/v1/", include((generation_api, "generations"))),
    path("api/v1/", include((rating_api, "ratings"))),
    path("api/v1/", include((snapshot_api, "snapshots"))),
    path("api/v1/", include((training_api, "training"))),
    path("api/v1/", include((arena_api, "arena-api"))),
    # The OpenAI-compatible API for chat front ends, agent frameworks and evaluation tools.
    path("v1/", include(openai_urlpatterns)),
    path("api/v1/", include("models_hub.api.urls")),
    path("api/v1/", include("accounts.api_urls")),
    # The Hugging Face Hub protocol: /api/... and /<repo>/resolve/..., as the stock clients expect.
    path("", include("models_hub.hub_api.urls")),
    path("", include("accounts.urls")),
    path("", include("models_hub.discovery_urls")),
    path("", include((rating_pages, "feedback"))),
    path("", include((arena_pages, "arena"))),
    # Before the registry's pages: /<owner>/<name>/playground belongs to inference, which the registry never imports.
    path("", include("inference.page_urls")),
    # Before the repository pages: /<owner>/<name>/feedback belongs to feedback, which models_hub never imports.
    path("", include("feedback.dashboard_urls")),
    path("", include((snapshot_pages, "feedback_snapshots"))),
    # Before the repository pages too: /<owner>/<name>/promotions belongs to training.
    path("", include("training.page_urls")),
    path("", include("models_hub.urls")),
    # Profiles last: /<name> would otherwise match every top-level page.
    path("<str:name>", profiles.profile, name="profile"),
]
