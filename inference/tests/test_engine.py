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


def _request(loaded, prompt: str, **params) -> engine.Request:
    return engine.Request(
        prompt_ids=engine.encode_prompt(loaded, prompt=prompt), params=engine.SamplingParams(**params)
    )


def test_a_row_that_joins_a_running_batch_gives_the_same_text_as_alone(loaded):
    """Continuous batching: the newcomer's cache is left-padded and stacked under the running rows'."""
    params = {"max_new_tokens": 20, "temperature": 0.9, "repetition_penalty": 1.2}
    alone = run(loaded, "The dog", seed=3, **params)
    early_alone = [run(loaded, "Once upon a time there", seed=s, **params) for s in (1, 2)]
    early = [_request(loaded, "Once upon a time there", seed=s, **params) for s in (1, 2)]
    late = _request(loaded, "The dog", seed=3, **params)
    running: list[int] = []

    def admit(rows_running: int) -> list[engine.Request]:
        running.append(rows_running)
        return [late] if len(running) == 6 else []

    engine.generate_batch(loaded, early, admit=admit)

    assert running[5] == 2 and running[6] == 3  # it joined two running rows
    assert late.completion_ids == alone.completion_ids and late.text == alone.text
    assert [r.completion_ids for r in early] == [r.completion_ids for r in early_alone]


def test_prompts_of_different_lengths_share_a_batch_and_each_row_ends_on_its_own(loaded):
    requests = [
        _request(loaded, prompt, max_new_tokens=n, temperature=1.0, seed=5)
        for prompt, n in (("Once", 4), ("The cat liked to play in the garden", 12), ("One day the dog", 8))
    ]
    ended: list[engine.Request] = []
    for request in requests:
        request.on_end = ended.append
    alone = [
        run(loaded, p, max_new_tokens=n, temperature=1.0, seed=5)
        for p, n in (("Once", 4), ("The cat liked to play in the garden", 12), ("One day the dog", 8))
    ]

    engine.generate_batch(loaded, requests)

    assert [r.completion_ids for r in requests] == [r.completion_ids for r in alone]
    assert sorted(map(id, ended)) == sorted(map(id, requests))  # each told once, when it ended
    assert all(r.finish_reason in ("length", "stop") for r in requests)


def test_generating_leaves_gradients_on_for_the_rest_of_the_process(loaded):
    """The training job samples with this engine in the process that then trains (or trains the next run)."""
    import torch

    run(loaded, "The cat", max_new_tokens=4, temperature=0.0, seed=0)
    assert torch.is_grad_enabled()
    weight = torch.ones(2, requires_grad=True)
    (weight * 3).sum().backward()
    assert weight.grad.tolist() == [3.0, 3.0]


def test_a_nul_character_the_model_emits_is_kept_as_a_replacement_character(loaded):
    """No database text column holds NUL (PostgreSQL refuses it), and a random model emits any byte."""
    ids = loaded.tokenizer.encode("a\x00b", add_special_tokens=False)
    assert loaded.tokenizer.decode(ids) == "a\x00b"
    assert engine.decode_completion(loaded, ids) == "a\ufffdb"
