from django.urls import path  # noqa: F401

app_name = "hub_api"
urlpatterns: list = []
