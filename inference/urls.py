from django.urls import path, re_path

from inference import api, openai_views

api_urlpatterns = [
    re_path(r"^generations/?$", api.GenerationCreateApi.as_view(), name="generation-create"),
    re_path(r"^generations/(?P<generation_id>[^/]+)/?$", api.GenerationDetailApi.as_view(), name="generation-detail"),
    re_path(
        r"^generations/(?P<generation_id>[^/]+)/cancel/?$", api.GenerationCancelApi.as_view(), name="generation-cancel"
    ),
    re_path(
        r"^generations/(?P<generation_id>[^/]+)/stream/?$", api.GenerationStreamApi.as_view(), name="generation-stream"
    ),
]

# The OpenAI-compatible API: clients call these exact paths, without a trailing slash.
openai_urlpatterns = [
    path("models", openai_views.models_list, name="openai-models"),
    path("models/<path:model_id>", openai_views.model_detail, name="openai-model"),
    path("chat/completions", openai_views.chat_completions, name="openai-chat"),
    path("completions", openai_views.completions, name="openai-completions"),
    path("<path:rest>", openai_views.not_found),
]
