"""The sampling loop itself, on a tiny model loaded from disk (no database)."""

from __future__ import annotations

import pytest

from inference import engine
from inference.tests.tiny_models import build_tiny_model


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("engine-model")
    build_tiny_model(folder)
    return engine.load_model(folder)


def run(loaded, prompt: str, **params) -> engine.Request:
    request = engine.Request(
        prompt_ids=engine.encode_prompt(loaded, prompt=prompt), params=engine.SamplingParams(**params)
    )
    engine.generate_batch(loaded, [request])
    return request


def test_same_seed_same_text_and_another_seed_another_text(loaded):
    first = run(loaded, "The cat", max_new_tokens=24, temperature=1.0, seed=7)
    again = run(loaded, "The cat", max_new_tokens=24, temperature=1.0, seed=7)
    other = run(loaded, "The cat", max_new_tokens=24, temperature=1.0, seed=8)

    assert first.completion_ids == again.completion_ids
    assert first.text == again.text
    assert other.completion_ids != first.completion_ids


def test_a_row_gives_the_same_text_alone_or_in_a_batch(loaded):
    alone = run(loaded, "The dog", max_new_tokens=16, temperature=0.9, seed=3)
    ids = engine.encode_prompt(loaded, prompt="The dog")
    batch = [
        engine.Request(prompt_ids=ids, params=engine.SamplingParams(max_new_tokens=16, temperature=0.9, seed=s))
        for s in (1, 3, 5)
    ]

    engine.generate_batch(loaded, batch)

    assert batch[1].completion_ids == alone.completion_ids


def test_greedy_ignores_the_seed(loaded):
    assert (
        run(loaded, "Once", max_new_tokens=10, temperature=0, seed=1).completion_ids
        == run(loaded, "Once", max_new_tokens=10, temperature=0, seed=2).completion_ids
    )


def test_max_new_tokens_ends_with_length(loaded):
    request = run(loaded, "Once", max_new_tokens=5, temperature=1.0, seed=1, top_k=5, top_p=0.9, repetition_penalty=1.3)

    assert len(request.completion_ids) <= 5
    assert request.finish_reason in ("length", "stop")


def test_a_stop_request_ends_the_row_at_the_next_token(loaded):
    calls = []
    request = engine.Request(
        prompt_ids=engine.encode_prompt(loaded, prompt="Once"),
        params=engine.SamplingParams(max_new_tokens=50, temperature=1.0, seed=1),
        should_stop=lambda: calls.append(1) or len(calls) > 3,
    )

    engine.generate_batch(loaded, [request])

    assert request.finish_reason == "cancelled"
    assert len(request.completion_ids) == 3


def test_text_stops_before_a_stop_string():
    assert engine.visible_text("Hello world. Bye", ["."]) == ("Hello world", True)
    # A partial stop string at the end is held back while streaming.
    assert engine.visible_text("Hello\n", ["\n\n"]) == ("Hello", False)
    assert engine.visible_text("Hello", ["\n\n"]) == ("Hello", False)


def test_the_cache_drops_the_least_recently_used_model_past_its_budget():
    cache = engine.ModelCache(budget_bytes=250)
    made = []

    def fake(name: str):
        def load():
            made.append(name)
            return engine.LoadedModel(None, None, "cpu", "float32", 100, 128)

        return load

    cache.get("a", fake("a"))
    cache.get("b", fake("b"))
    cache.get("a", fake("a"))  # a is now the most recent
    cache.get("c", fake("c"))  # over 250 bytes: b goes

    assert cache.keys() == ["a", "c"]
    assert made == ["a", "b", "c"]


def test_a_folder_that_is_not_a_causal_lm_is_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"architectures": ["BertForMaskedLM"]}')

    with pytest.raises(engine.NotACausalLM, match="not a causal language model"):
        engine.load_model(tmp_path)
