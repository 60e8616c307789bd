"""Continuous batching: rows join a running batch between decode steps and leave it as soon as they end.

Pure ML code (no ORM), used by `inference.engine.generate_batch`. Each newcomer's prompt is run on its own (with
the other newcomers of the same length, never padded), its first token sampled, and its key/value cache then
left-padded and stacked onto the running rows' caches, so from the next step on one forward serves every row.
A row that ends leaves the batch at once (its caller is told), and columns that only padding still uses are cut.
Each row keeps its own seeded generator, so its text does not depend on which rows shared its steps.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from inference.engine import (
    LoadedModel,
    Request,
    _eos_ids,
    _final_text,
    _sample_row,
    decode_completion,
    visible_text,
)
from inference.growing_cache import growing_cache


@dataclass
class _Row:
    request: Request
    generator: object
    last_sent: float = 0.0


class RunningBatch:
    """The rows being generated for one model, their shared cache and attention mask."""

    def __init__(self, loaded: LoadedModel, *, text_interval: float = 0.05) -> None:
        import torch

        self.loaded = loaded
        self.text_interval = text_interval
        self.eos_ids = _eos_ids(loaded)
        tokenizer = loaded.tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (self.eos_ids or [0])[0]
        self.rows: list[_Row] = []
        self.past = None
        self.attention = torch.zeros((0, 0), dtype=torch.long, device=loaded.device)
        self.next_ids: list[int] = []  # per row, the token the next step feeds
        self.last_tick = 0.0  # when the rows last reported their text
        self.waiting: list[list[Request]] = []  # prompt-length groups that cannot join this model's cache

    def __len__(self) -> int:
        return len(self.rows)

    def can_join(self) -> bool:
        """Whether rows may join while others run: every cache layer must be a plain growing one."""
        from transformers.cache_utils import DynamicLayer

        from inference.growing_cache import GrowingLayer

        plain = (DynamicLayer, GrowingLayer)
        return self.past is None or all(type(layer) in plain for layer in getattr(self.past, "layers", [None]))

    def add(self, requests: Sequence[Request]) -> None:
        """Prefill the newcomers (one forward per prompt length) and join the ones that did not end at once."""
        by_length: dict[int, list[Request]] = defaultdict(list)
        for request in requests:
            by_length[len(request.prompt_ids)].append(request)
        for group in by_length.values():
            if self.rows and not self.can_join():
                self.waiting.append(group)
            else:
                self._prefill(group)

    def step(self) -> None:
        """One decode step for every row: feed each row's last token, sample the next, let ended rows go."""
        import torch

        if not self.rows:
            return
        device = self.loaded.device
        ones = torch.ones((len(self.rows), 1), dtype=torch.long, device=device)
        self.attention = torch.cat([self.attention, ones], dim=1)
        step_ids = torch.tensor(self.next_ids, dtype=torch.long, device=device).unsqueeze(1)
        positions = (self.attention.cumsum(-1) - 1).clamp(min=0)[:, -1:]
        out = self.loaded.model(
            input_ids=step_ids,
            attention_mask=self.attention,
            position_ids=positions,
            past_key_values=self.past,
            use_cache=True,
        )
        self.past = out.past_key_values
        self._sample(self.rows, out.logits[:, -1, :].float(), keep_from=0)

    def run(self, admit=None, on_step=None) -> None:
        """Step until every row has ended; between steps `admit(rows running)` may hand over more requests, and
        `on_step()` is called (the caller writes what its rows reported). See `engine.generate_batch`."""
        while True:
            if on_step is not None:
                on_step()
            if admit is not None and self.can_join():
                newcomers = admit(len(self))
                if newcomers:
                    self.add(newcomers)
            if not self:
                if not self.waiting:
                    return
                self.add(self.waiting.pop(0))
                continue
            self.step()

    def _prefill(self, requests: list[Request]) -> None:
        import torch

        device = self.loaded.device
        rows = [_Row(r, torch.Generator().manual_seed(r.params.seed)) for r in requests]
        input_ids = torch.tensor([r.prompt_ids for r in requests], dtype=torch.long, device=device)
        attention = torch.ones_like(input_ids)
        positions = torch.arange(input_ids.shape[1], device=device).unsqueeze(0).expand_as(input_ids)
        out = self.loaded.model(
            input_ids=input_ids,
            attention_mask=attention,
            position_ids=positions,
            past_key_values=growing_cache(self.loaded.model.config),
            use_cache=True,
        )
        first = len(self.rows)
        self._join(rows, out.past_key_values, attention)
        self._sample(self.rows[first:], out.logits[:, -1, :].float(), keep_from=first)

    def _join(self, rows: list[_Row], past, attention) -> None:
        """Stack the newcomers' cache under the running one, left-padding whichever is shorter."""
        import torch

        if self.past is None or not self.rows:
            self.rows, self.past, self.attention = list(rows), past, attention
            self.next_ids = [0] * len(rows)
            return
        width = max(self.attention.shape[1], attention.shape[1])

        def padded(tensor, dim: int):
            missing = width - tensor.shape[dim]
            if not missing:
                return tensor
            shape = list(tensor.shape)
            shape[dim] = missing
            return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)

        for mine, theirs in zip(self.past.layers, past.layers, strict=True):
            mine.keys = torch.cat([padded(mine.keys, -2), padded(theirs.keys, -2)], dim=0)
            mine.values = torch.cat([padded(mine.values, -2), padded(theirs.values, -2)], dim=0)
        self.attention = torch.cat([padded(self.attention, 1), padded(attention, 1)], dim=0)
        self.rows += rows
        self.next_ids += [0] * len(rows)

    def _sample(self, rows: list[_Row], logits, *, keep_from: int) -> None:
        """Sample one token for each of `rows` (logits row i is rows[i]); rows that end leave the batch."""
        import torch

        now = time.monotonic()
        ended = set()
        for i, row in enumerate(rows):
            if not self._advance(row, logits[i], now):
                ended.add(keep_from + i)
            else:
                self.next_ids[keep_from + i] = row.request.completion_ids[-1]
        if keep_from == 0 and now - self.last_tick >= self.text_interval:
            self.last_tick = now
        if not ended:
            return
        keep = [i for i in range(len(self.rows)) if i not in ended]
        self.rows = [self.rows[i] for i in keep]
        self.next_ids = [self.next_ids[i] for i in keep]
        if not keep:
            self.past, self.attention = None, self.attention[:0, :0]
            return
        index = torch.tensor(keep, dtype=torch.long, device=self.attention.device)
        self.attention = self.attention[index]
        # Columns that are padding for every row left are dead weight in each step's attention.
        start = int(self.attention.any(dim=0).long().argmax())
        self.attention = self.attention[:, start:]
        for layer in self.past.layers:
            layer.keys = layer.keys[index, :, start:]
            layer.values = layer.values[index, :, start:]

    def _advance(self, row: _Row, logits, now: float) -> bool:
        """Handle one sampled token for `row`; False when the row has ended (its text is final)."""
        request = row.request
        if request.should_stop():
            return self._end(row, "cancelled")
        token = _sample_row(logits.clone(), request.params, request.prompt_ids + request.completion_ids, row.generator)
        if token in self.eos_ids:
            return self._end(row, "stop")
        request.completion_ids.append(token)
        request.first_token_at = request.first_token_at or now
        done = len(request.completion_ids) >= request.params.max_new_tokens
        # Rows report on one shared tick (their writes go out together), and a row's first token at once.
        due = row.last_sent == 0.0 or now - self.last_tick >= self.text_interval
        # Decoding the whole completion costs more as it grows: only when the text is needed.
        if not (request.stop or done or due):
            return True
        decoded = decode_completion(self.loaded, request.completion_ids)
        request.text, stopped = visible_text(decoded, request.stop)
        if stopped:
            return self._end(row, "stop", text=request.text)
        if done:
            return self._end(row, "length", text=decoded)
        row.last_sent = now
        request.on_text(request.text, len(request.completion_ids))
        return True

    def _end(self, row: _Row, reason: str, *, text: str | None = None) -> bool:
        request = row.request
        if text is None:
            text = _final_text(decode_completion(self.loaded, request.completion_ids), request.stop)
        request.text, request.finish_reason = text, reason
        request.on_text(request.text, len(request.completion_ids))
        request.on_end(request)
        return False
