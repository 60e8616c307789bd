from django.urls import path

from models_hub.models import Repository
from models_hub.views import discovery

urlpatterns = [
    path("", discovery.home, name="home"),
    path("models", discovery.repo_list, {"kind": Repository.Kind.MODEL}, name="model-list"),
    path("datasets", discovery.repo_list, {"kind": Repository.Kind.DATASET}, name="dataset-list"),
]
