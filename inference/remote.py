"""Generation on an external OpenAI-compatible server (vLLM, TGI, llama.cpp) when FLYWHEEL_INFERENCE_URL is set.

The worker streams the server's `/completions` answer into the generation row, so pages, the REST API and
the `/v1/` API behave the same whichever backend produced the text. The external server must serve the
model under the Flywheel id (`owner/name`); the commit recorded is the one the revision named when asked.
"""

from __future__ import annotations

import json
import time
import urllib.request

from django.conf import settings
from django.utils import timezone

from inference.engine import visible_text
from inference.models import Generation
from models_hub.storable import without_nul

TIMEOUT_SECONDS = 60


def run_remote(generation: Generation) -> None:
    body = {
        "model": generation.repository.repo_id,
        "prompt": f"{generation.system_prompt}\n{generation.prompt}" if generation.system_prompt else generation.prompt,
        "max_tokens": generation.max_new_tokens,
        "temperature": generation.temperature,
        "top_p": generation.top_p,
        "seed": generation.seed,
        "stream": True,
    }
    if generation.top_k:
        body["top_k"] = generation.top_k  # vLLM, TGI and llama.cpp take it as an extra field
    if generation.repetition_penalty != 1.0:
        body["repetition_penalty"] = generation.repetition_penalty
    headers = {"Content-Type": "application/json"}
    if settings.FLYWHEEL_INFERENCE_API_KEY:
        headers["Authorization"] = f"Bearer {settings.FLYWHEEL_INFERENCE_API_KEY}"
    request = urllib.request.Request(  # noqa: S310 - a URL the deployment configured
        settings.FLYWHEEL_INFERENCE_URL.rstrip("/") + "/completions", json.dumps(body).encode(), headers
    )
    text, reason, tokens, last_write = "", "", 0, 0.0
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
        for raw in response:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            choice = (json.loads(line[5:]).get("choices") or [{}])[0]
            text += without_nul(choice.get("text") or "")  # no database text column holds NUL
            tokens += 1
            reason = choice.get("finish_reason") or reason
            if time.monotonic() - last_write >= 0.05:
                last_write = time.monotonic()
                now = timezone.now()
                Generation.objects.filter(pk=generation.pk).update(
                    text=visible_text(text, generation.stop)[0], completion_tokens=tokens, heartbeat_at=now
                )
                Generation.objects.filter(pk=generation.pk, first_token_at__isnull=True).update(first_token_at=now)
                if Generation.objects.filter(pk=generation.pk, cancel_requested=True).exists():
                    reason = "cancelled"
                    break
    final, stopped = visible_text(text, generation.stop)
    now = timezone.now()
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.CANCELLED if reason == "cancelled" else Generation.Status.DONE,
        text=final if stopped or reason == "cancelled" else text,
        finish_reason="stop" if stopped else (reason or "stop"),
        completion_tokens=tokens,
        device="remote",
        finished_at=now,
        heartbeat_at=now,
    )
