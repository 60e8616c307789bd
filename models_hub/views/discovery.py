from __future__ import annotations

from django.shortcuts import render

from models_hub.models import Repository


def home(request):
    visible = Repository.objects.visible_to(request.user)
    context = {
        "trending": visible.order_by("-likes_count", "-downloads")[:8],
        "recent": visible.order_by("-updated_at")[:8],
    }
    return render(request, "models_hub/home.html", context)
