from django.urls import path

from models_hub.views import discovery

urlpatterns = [
    path("", discovery.home, name="home"),
]
