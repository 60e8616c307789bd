"""A key/value cache whose layers grow into spare room instead of being copied at every decode step.

transformers' `DynamicLayer` concatenates each step's keys and values onto the whole cache (`torch.cat`): the
cache is copied, and on a CPU a fresh multi-megabyte block is mapped and zeroed, at every step. With 8 rows that
was a fifth of a decode step. Here each layer keeps buffers with room for `ROOM` more columns; a step writes its
column in place, and `keys`/`values` are views of the filled part, so attention reads exactly what it did before.
"""

from __future__ import annotations

from transformers.cache_utils import DynamicCache, DynamicLayer

ROOM = 64  # columns allocated ahead: a reallocation (and copy) every 64 steps instead of at every step


class GrowingLayer(DynamicLayer):
    """A `DynamicLayer` with room to grow. `keys`/`values` may still be assigned directly (rows joining or leaving
    a batch): a step that finds them no longer views of its buffers makes room again from them."""

    _key_room = _value_room = None

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        used = self.keys.shape[-2] if self.keys.dim() == 4 else 0
        needed = used + key_states.shape[-2]
        if not (self._fits(self.keys, self._key_room, needed) and self._fits(self.values, self._value_room, needed)):
            self._key_room = self._grown(self.keys, key_states, used, needed)
            self._value_room = self._grown(self.values, value_states, used, needed)
        self._key_room[:, :, used:needed] = key_states
        self._value_room[:, :, used:needed] = value_states
        self.keys, self.values = self._key_room[:, :, :needed], self._value_room[:, :, :needed]
        return self.keys, self.values

    @staticmethod
    def _fits(current, room, needed: int) -> bool:
        """Whether `current` is the filled start of `room` and `room` has space for `needed` columns."""
        return (
            room is not None
            and needed <= room.shape[-2]
            and current.dim() == 4
            and current.data_ptr() == room.data_ptr()
            and current.stride() == room.stride()
            and current.shape[:2] == room.shape[:2]
        )

    @staticmethod
    def _grown(current, new, used: int, needed: int):
        batch, heads, _, dim = new.shape
        room = new.new_empty((batch, heads, needed + ROOM, dim))
        if used:
            room[:, :, :used] = current
        return room


def growing_cache(config):
    """An empty cache for a model with `config`, growing in place when all its layers are plain full-attention
    ones; otherwise (sliding windows, linear attention) transformers' own cache for that config."""
    cache = DynamicCache(config=config)
    if cache.layers and all(type(layer) is DynamicLayer for layer in cache.layers):
        cache.layers = [GrowingLayer() for _ in cache.layers]
    return cache
