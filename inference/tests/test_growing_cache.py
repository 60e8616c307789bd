"""The in-place growing key/value cache gives what transformers' own cache gives, without a copy per step."""

from __future__ import annotations

import pytest
import torch
from transformers.cache_utils import DynamicCache

from inference import engine
from inference.growing_cache import ROOM, GrowingLayer, growing_cache
from inference.tests.tiny_models import build_tiny_model


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache-model")
    build_tiny_model(folder)
    return engine.load_model(folder)


def greedy_ids(model, ids, cache, steps: int) -> list[int]:
    out, tokens = None, []
    with torch.inference_mode():
        for _ in range(steps):
            out = model(input_ids=ids, past_key_values=cache, use_cache=True)
            ids = out.logits[:, -1:].argmax(-1)
            tokens.append(int(ids))
    return tokens


def test_greedy_tokens_match_transformers_own_cache_past_a_reallocation(loaded):
    model = loaded.model
    ids = torch.tensor([engine.encode_prompt(loaded, prompt="The cat sat")])
    steps = ROOM + 20  # the room is made again once (the tiny model has 128 positions)

    ours = greedy_ids(model, ids, growing_cache(model.config), steps)
    theirs = greedy_ids(model, ids, DynamicCache(config=model.config), steps)

    assert ours == theirs


def test_a_step_writes_into_the_room_instead_of_copying_the_cache(loaded):
    model = loaded.model
    cache = growing_cache(model.config)
    assert all(type(layer) is GrowingLayer for layer in cache.layers)
    ids = torch.tensor([engine.encode_prompt(loaded, prompt="Once upon")])
    with torch.inference_mode():
        model(input_ids=ids, past_key_values=cache, use_cache=True)
        room = cache.layers[0]._key_room.data_ptr()
        for _ in range(ROOM - 1):
            model(input_ids=ids[:, :1], past_key_values=cache, use_cache=True)

    assert cache.layers[0]._key_room.data_ptr() == room
    assert cache.layers[0].keys.shape[-2] == ids.shape[1] + ROOM - 1


def test_keys_assigned_from_outside_are_taken_as_the_new_cache():
    """A batch cuts rows and columns by assigning keys and values; the next step must start from those."""
    layer = GrowingLayer()
    layer.update(torch.ones(2, 1, 3, 4), torch.ones(2, 1, 3, 4))
    layer.keys, layer.values = layer.keys[1:, :, 1:], layer.values[1:, :, 1:]  # one row and one column left

    keys, values = layer.update(torch.full((1, 1, 1, 4), 2.0), torch.full((1, 1, 1, 4), 2.0))

    assert keys.shape == values.shape == (1, 1, 3, 4)
    assert keys[0, 0, :, 0].tolist() == [1.0, 1.0, 2.0]
