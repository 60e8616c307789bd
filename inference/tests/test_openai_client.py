"""The stock `openai` client against Flywheel's /v1/ API, a live server and a real worker; then the answer is rated
back through its id. Strict response validation makes any missing field an error."""

from __future__ import annotations

import pytest

from accounts.services import token_create
from inference.models import Generation
from inference.tests.conftest import make_model_repo

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def openai_client(live_server, alice):
    from openai import OpenAI

    secret = token_create(user=alice, name="openai").secret
    client = OpenAI(base_url=f"{live_server.url}/v1", api_key=secret, max_retries=0, _strict_response_validation=True)
    yield client
    client.close()


def test_models_list_shows_runnable_models(openai_client, alice, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files)

    ids = [model.id for model in openai_client.models.list()]

    assert "alice/tiny" in ids
    assert openai_client.models.retrieve("alice/tiny").owned_by == "alice"


def test_chat_completion_answers_with_the_generation_id(celery_worker, openai_client, alice, tiny_chat_model_files):
    make_model_repo(owner=alice, files=tiny_chat_model_files)

    answer = openai_client.chat.completions.create(
        model="alice/tiny",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me about the cat"}],
        max_tokens=8,
        seed=3,
        temperature=0.7,
    )

    generation = Generation.objects.get(pk=answer.id)
    assert answer.choices[0].message.content == generation.text
    assert answer.choices[0].finish_reason in ("stop", "length")
    assert answer.usage.completion_tokens == generation.completion_tokens
    assert generation.source == "openai" and generation.system_prompt == "Be brief." and generation.seed == 3


def test_streamed_completion_adds_up_to_the_stored_text(celery_worker, live_server, alice, tiny_model_files):
    from openai import OpenAI

    make_model_repo(owner=alice, files=tiny_model_files)
    # Not strict: the client's Completion type declares finish_reason required, yet OpenAI's own completion
    # streams send null until the last chunk, as Flywheel does.
    client = OpenAI(base_url=f"{live_server.url}/v1", api_key=token_create(user=alice, name="o").secret, max_retries=0)

    chunks = list(
        client.completions.create(
            model="alice/tiny",
            prompt="Once upon a time",
            max_tokens=12,
            seed=1,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    text = "".join(c.choices[0].text for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert text == Generation.objects.get(pk=chunks[0].id).text
    assert finish in (["length"], ["stop"])
    assert chunks[-1].usage.completion_tokens > 0


def test_streamed_chat_arrives_through_the_stream_helper(celery_worker, openai_client, alice, tiny_model_files):
    make_model_repo(owner=alice, files=tiny_model_files)

    with openai_client.chat.completions.stream(
        model="alice/tiny@main", messages=[{"role": "user", "content": "Hello"}], max_completion_tokens=6, seed=2
    ) as stream:
        events = list(stream)

    text = "".join(e.delta for e in events if e.type == "content.delta")
    chunks = [e.chunk for e in events if e.type == "chunk"]
    assert text == Generation.objects.get(pk=chunks[0].id).text
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_errors_arrive_as_the_clients_exceptions(openai_client, alice, tiny_model_files):
    import openai

    make_model_repo(owner=alice, files=tiny_model_files)

    with pytest.raises(openai.NotFoundError):
        openai_client.chat.completions.create(model="alice/nope", messages=[{"role": "user", "content": "Hi"}])
    with pytest.raises(openai.BadRequestError) as bad:
        openai_client.chat.completions.create(
            model="alice/tiny",
            messages=[{"role": "user", "content": "Hi"}],
            tools=[{"type": "function", "function": {"name": "f"}}],
        )
    assert bad.value.param == "tools"
    with pytest.raises(openai.BadRequestError, match="'temperature' must be between"):
        openai_client.completions.create(model="alice/tiny", prompt="Hi", temperature=5)
    with pytest.raises(openai.BadRequestError, match="NUL character"):  # PostgreSQL text cannot hold it
        openai_client.chat.completions.create(model="alice/tiny", messages=[{"role": "user", "content": "Hi\x00"}])


def test_a_wrong_key_is_an_authentication_error(live_server):
    import openai

    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="fw_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="alice/tiny", messages=[{"role": "user", "content": "Hi"}])
