"""The playground pages: try a model revision in the browser, follow the output, see it finished.

The page posts here (session and CSRF); the browser then follows the generation through the REST stream
(server-sent events). Every form also works without JavaScript: a POST redirects to the generation's page.
"""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from inference import selectors, services
from inference.forms import PlaygroundForm, initial_from
from inference.models import Generation
from models_hub import selectors as hub_selectors
from models_hub.errors import BadRequest, GatedRepo, HubError, NotFound
from models_hub.models import Ref, Repository
from models_hub.views.common import repo_page, tab_context

PAGE = "inference/playground.html"


def generation_url(generation: Generation) -> str:
    return f"{generation.repository.get_absolute_url()}/playground/{generation.pk}"


def _output_context(generation: Generation | None, *, widget: bool = False) -> dict:
    """What the output panel shows about a generation (running or finished)."""
    if generation is None:
        return {}
    return {
        "generation": generation,
        "repo": generation.repository,
        "position": selectors.queue_position(generation),
        "generation_url": generation_url(generation),
        "widget": widget,
    }


def _revisions(repo: Repository) -> dict[str, list[str]]:
    refs = Ref.objects.filter(repository=repo).values_list("kind", "name")
    return {
        "branches": sorted(n for k, n in refs if k == Ref.Kind.BRANCH),
        "tags": sorted(n for k, n in refs if k == Ref.Kind.TAG),
    }


def _model_state(repo: Repository, revision: str) -> dict:
    """What the form needs to know about the revision shown: its commit, a chat template, why it cannot run."""
    try:
        commit = hub_selectors.revision_resolve(repo, revision or "main")
    except HubError as exc:
        return {"commit": None, "chat": False, "refusal": exc.message}
    return {
        "commit": commit,
        "chat": selectors.has_chat_template(commit),
        "refusal": selectors.runnable_refusal(commit),
    }


def _page(request: HttpRequest, form: PlaygroundForm, *, generation=None, error: str = "", status: int = 200):
    revision = form["revision"].value() or "main"
    context = {
        **tab_context(request, "playground"),
        **_revisions(request.repo_access.repo),
        **_model_state(request.repo_access.repo, revision),
        **_output_context(generation),
        "form": form,
        "error": error,
        "gate_refusal": request.repo_access.gate_refusal(),
    }
    return render(request, PAGE, context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
@repo_page()
def playground(request: HttpRequest, repo: Repository) -> HttpResponse:
    if request.method == "POST":
        return _generate(request, repo)
    form = PlaygroundForm(initial={"revision": request.GET.get("revision") or "main"})
    return _page(request, form)


def _generate(request: HttpRequest, repo: Repository) -> HttpResponse:
    widget = request.POST.get("widget") == "1"
    if not request.user.is_authenticated:
        back = f"{repo.get_absolute_url()}{'' if widget else '/playground'}"
        login = redirect_to_login(back)
        return HttpResponseClientRedirect(login["Location"]) if request.htmx else login
    form = PlaygroundForm(request.POST)
    try:
        generation = _request_generation(request, repo, form)
    except services.TooManyRequests as exc:
        response = _refused(request, form, exc.message, exc.status, widget=widget)
        response["Retry-After"] = str(exc.retry_after)
        return response
    except HubError as exc:
        return _refused(request, form, exc.message, exc.status, widget=widget)
    if not request.htmx:
        return redirect(generation_url(generation))
    response = render(request, f"{PAGE}#output", _output_context(generation, widget=widget))
    if not widget:
        response["HX-Push-Url"] = generation_url(generation)
    return response


def _request_generation(request: HttpRequest, repo: Repository, form: PlaygroundForm) -> Generation:
    refusal = request.repo_access.gate_refusal()
    if refusal:
        raise GatedRepo(refusal)
    if not form.is_valid():
        raise BadRequest(form.first_error())
    data = form.cleaned_data
    revision = data["revision"].strip() or "main"
    # A tokenizer with a chat template gets the prompt as the user's message; a base model continues it.
    chat = selectors.has_chat_template(hub_selectors.revision_resolve(repo, revision))
    return services.generation_request(
        user=request.user,
        repo=repo,
        revision=revision,
        prompt="" if chat else data["prompt"],
        messages=[{"role": "user", "content": data["prompt"]}] if chat else None,
        system_prompt=data["system_prompt"],
        params=form.params(),
        source=Generation.Source.PLAYGROUND,
    )


def _refused(request: HttpRequest, form: PlaygroundForm, message: str, status: int, *, widget: bool) -> HttpResponse:
    if request.htmx:
        context = {"error": message, "widget": widget, "repo": request.repo_access.repo}
        return render(request, f"{PAGE}#output", context, status=status)
    return _page(request, form, error=message, status=status)


def _generation_for(request: HttpRequest, repo: Repository, generation_id: str) -> Generation:
    try:
        generation = selectors.generation_get_for_user(generation_id=generation_id, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from None
    if generation.repository_id != repo.pk:
        raise Http404("There is no such generation for this model.")
    return generation


@require_safe
@repo_page()
def generation_page(request: HttpRequest, repo: Repository, generation_id: str) -> HttpResponse:
    """A generation, running or finished, under the form that asked for it; htmx gets the output alone."""
    generation = _generation_for(request, repo, generation_id)
    if request.htmx:
        return render(request, f"{PAGE}#output", _output_context(generation, widget=request.GET.get("widget") == "1"))
    return _page(request, PlaygroundForm(initial=initial_from(generation)), generation=generation)


@require_POST
@repo_page()
def generation_stop(request: HttpRequest, repo: Repository, generation_id: str) -> HttpResponse:
    """Stop without JavaScript (the page's script calls the REST cancel endpoint instead)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    generation = _generation_for(request, repo, generation_id)
    if generation.user_id == request.user.pk or request.user.is_staff:
        services.generation_cancel(generation=generation)
    return redirect(generation_url(generation))


@require_safe
@repo_page()
def widget(request: HttpRequest, repo: Repository) -> HttpResponse:
    """The model card's "Try it" panel, loaded by htmx so the registry needs to know nothing of inference."""
    context = {
        "repo": repo,
        "base": repo.get_absolute_url(),
        "form": PlaygroundForm(),
        "gate_refusal": request.repo_access.gate_refusal(),
        **_model_state(repo, "main"),
    }
    return render(request, "inference/_widget.html", context)
