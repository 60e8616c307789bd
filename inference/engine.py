"""Text generation from a loaded causal LM: a batched sampling loop that streams and can be stopped.

Pure ML code (no ORM): paths and parameters in, text out. torch and transformers are imported inside
the functions, because importing them costs seconds and Django must not pay that at start-up.

Why a loop of our own instead of `model.generate`: every row of a batch keeps its own sampling
parameters and its own seeded random generator (so a seed gives the same text whether or not other
requests shared the batch), rows can be stopped one by one, and tokens are handed out as they come.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models_hub.storable import without_nul


class NotACausalLM(Exception):
    """The files are not a transformers causal language model this worker can run."""


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 64
    temperature: float = 0.8  # 0: greedy
    top_p: float = 1.0
    top_k: int = 0  # 0: no top-k cut
    repetition_penalty: float = 1.0
    seed: int = 0


@dataclass
class Request:
    """One prompt of a batch; `on_text` receives the text decoded so far, `should_stop` is polled every step."""

    prompt_ids: list[int]
    params: SamplingParams
    on_text: Callable[[str, int], None] = lambda text, tokens: None
    should_stop: Callable[[], bool] = lambda: False
    on_end: Callable[[Request], None] = lambda request: None
    stop: Sequence[str] = ()
    text: str = ""
    completion_ids: list[int] = field(default_factory=list)
    finish_reason: str = ""  # "stop" (end of text), "length" (max_new_tokens) or "cancelled"
    first_token_at: float | None = None


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    device: str
    dtype: str
    nbytes: int
    max_positions: int

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))


def best_device() -> tuple[str, Any]:
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.bfloat16
    return "cpu", torch.float32


def load_model(path: Path) -> LoadedModel:
    """Load a snapshot folder: safetensors weights only, never remote code."""
    import json

    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = json.loads((path / "config.json").read_text())
    architectures = config.get("architectures") or []
    if not any(str(name).endswith(("ForCausalLM", "LMHeadModel")) for name in architectures):
        raise NotACausalLM(f"config.json names {architectures or 'no architecture'}, not a causal language model.")
    device, dtype = best_device()
    try:
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=dtype, use_safetensors=True, trust_remote_code=False, local_files_only=True
        )
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise NotACausalLM(f"transformers cannot load it: {exc}") from None
    model.to(device).eval()
    nbytes = sum(p.numel() * p.element_size() for p in model.parameters())
    max_positions = int(
        getattr(model.config, "max_position_embeddings", 0) or getattr(model.config, "n_positions", 0) or 2048
    )
    return LoadedModel(model, tokenizer, device, str(dtype).removeprefix("torch."), nbytes, max_positions)


class ModelCache:
    """Loaded models by commit, least recently used first out when the memory budget is exceeded."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], LoadedModel]) -> LoadedModel:
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
        loaded = load()
        with self._lock:
            self._models[key] = loaded
            self._models.move_to_end(key)
            # Always keep the one just loaded, even when it alone is over the budget.
            while len(self._models) > 1 and sum(m.nbytes for m in self._models.values()) > self.budget_bytes:
                self._models.popitem(last=False)
        return loaded

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._models)


def encode_prompt(loaded: LoadedModel, *, prompt: str, system: str = "", messages: Sequence[dict] | None = None):
    """Token ids for a plain continuation, or for a chat through the tokenizer's template when it has one."""
    tokenizer = loaded.tokenizer
    if messages is not None and loaded.has_chat_template:
        chat = ([{"role": "system", "content": system}] if system else []) + list(messages)
        ids = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):
            ids = ids["input_ids"]
        return list(ids)
    if messages is not None:
        # No chat template (a base model): continue the conversation as plain text.
        lines = [system] if system else []
        lines += [f"{m['role']}: {m['content']}" for m in messages]
        prompt = "\n".join(lines) + "\nassistant:"
    elif system:
        prompt = f"{system}\n{prompt}"
    return tokenizer(prompt, add_special_tokens=True)["input_ids"]


def _sample_row(logits, params: SamplingParams, seen: list[int], generator) -> int:
    import torch

    if params.repetition_penalty != 1.0 and seen:
        index = torch.tensor(sorted(set(seen)), device=logits.device)
        values = logits[index]
        logits[index] = torch.where(values > 0, values / params.repetition_penalty, values * params.repetition_penalty)
    if params.temperature <= 0:
        return int(torch.argmax(logits))
    logits = logits / params.temperature
    if params.top_k > 0:
        kth = torch.topk(logits, min(params.top_k, logits.numel())).values[-1]
        logits = torch.where(logits < kth, torch.full_like(logits, float("-inf")), logits)
    probs = torch.softmax(logits, dim=-1)
    if params.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        cumulative = torch.cumsum(sorted_probs, dim=-1)
        # Keep the smallest set whose mass reaches top_p (always at least the most likely token).
        drop = cumulative - sorted_probs > params.top_p
        sorted_probs[drop] = 0
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
    # Sampled on the CPU with the row's own generator, so results do not depend on the device's RNG state.
    return int(torch.multinomial(probs.float().cpu(), 1, generator=generator))


def decode_completion(loaded: LoadedModel, ids: Sequence[int]) -> str:
    # A model may emit the NUL character, which no database text column holds: shown as U+FFFD instead.
    return without_nul(loaded.tokenizer.decode(ids, skip_special_tokens=True))


def visible_text(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """The text cut before the first stop string (True when one was found), else without a trailing partial
    stop string, so a streamed text never shows what the final one will not contain."""
    cuts = [text.find(s) for s in stops if s and s in text]
    if cuts:
        return text[: min(cuts)], True
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:size]):
                return text[:-size], False
    return text, False


def _final_text(text: str, stops: Sequence[str]) -> str:
    cut, stopped = visible_text(text, stops)
    return cut if stopped else text


def generate_batch(
    loaded: LoadedModel,
    requests: Sequence[Request],
    *,
    text_interval: float = 0.05,
    admit: Callable[[int], Sequence[Request]] | None = None,
    on_step: Callable[[], None] | None = None,
) -> None:
    """Generate for every request, updating each in place (continuous batching: `inference.batch`).

    `on_text` is called at most every `text_interval` seconds per row and once more when the row ends, then
    `on_end`. Between decode steps `admit(number of rows running)` may return more requests, which join, and
    `on_step()` is called.
    """
    import torch

    from inference.batch import RunningBatch

    # Inference mode for this call only: the training job generates samples in the same process, then trains.
    with torch.inference_mode():
        batch = RunningBatch(loaded, text_interval=text_interval)
        batch.add(requests)
        batch.run(admit=admit, on_step=on_step)


def _eos_ids(loaded: LoadedModel) -> list[int]:
    ids = loaded.model.generation_config.eos_token_id
    if ids is None:
        ids = loaded.tokenizer.eos_token_id
    if ids is None:
        return []
    return [ids] if isinstance(ids, int) else list(ids)
