from django.urls import path

from models_hub import views

app_name = "models_hub"
urlpatterns = [
    path("", views.home, name="home"),
]
