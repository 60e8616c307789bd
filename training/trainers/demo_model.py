"""Build the demo model from nothing: a story corpus, a BPE tokenizer and a tiny GPT-2 trained for a time budget.

Pure ML code (no ORM). torch, tokenizers and transformers are imported inside the functions because
importing them costs seconds and Django must not pay that at start-up.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from training.trainers.story_corpus import Story, demo_prompts, stories, story_text

# Bump when the recipe changes in a way the config fields below do not capture: old caches are then ignored.
RECIPE_VERSION = 2  # 2: an early checkpoint is saved in early/ during the same run
EOS = "<|endoftext|>"
PAD = "<pad>"
SAMPLE_PROMPT = "Once upon a time, there was a little cat named"
# What from_pretrained needs; the build folder also holds build_metrics.json, which is not part of the model.
MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
# The early checkpoint (the demo's v0.1), saved a quarter of the way through training: weights and configs only,
# the tokenizer is the final model's. A second revision to compare, for the price of one save.
EARLY_DIR = "early"
EARLY_FILES = ("config.json", "generation_config.json", "model.safetensors")
EARLY_FRACTION = 0.25

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DemoConfig:
    stories: int = 4000
    seed: int = 1234
    vocab_size: int = 2048
    n_positions: int = 256
    n_embd: int = 128
    n_layer: int = 4
    n_head: int = 4
    block_size: int = 128
    batch_size: int = 16
    learning_rate: float = 3e-3
    train_seconds: float = 90.0
    max_steps: int = 600  # a GPU gets there in seconds; a CPU spends its time budget first

    def cache_key(self) -> str:
        text = json.dumps({"recipe": RECIPE_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DemoBuild:
    path: Path  # a folder loadable with from_pretrained: config.json, model.safetensors, tokenizer files
    cache_key: str
    metrics: dict[str, Any]


def demo_model_build(cache_dir: Path, config: DemoConfig, *, threads: int = 2, progress: Progress = print) -> DemoBuild:
    """Return the demo model for `config`, training it only when `cache_dir` has no build for this config."""
    target = Path(cache_dir) / config.cache_key()
    metrics_file = target / "build_metrics.json"
    if metrics_file.exists():
        progress(f"Reusing the demo model built earlier in {target}")
        return DemoBuild(target, config.cache_key(), json.loads(metrics_file.read_text()))
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    # Build in a scratch folder and rename at the end, so an interrupted build is never mistaken for a cached one.
    scratch = Path(tempfile.mkdtemp(prefix="build-", dir=cache_dir))
    scratch.chmod(0o755)
    try:
        metrics = _build(scratch, config, threads=threads, progress=progress)
        (scratch / "build_metrics.json").write_text(json.dumps(metrics, indent=2))
        if target.exists():
            shutil.rmtree(target)
        os.replace(scratch, target)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return DemoBuild(target, config.cache_key(), metrics)


def _build(out: Path, config: DemoConfig, *, threads: int, progress: Progress) -> dict[str, Any]:
    import torch

    torch.manual_seed(config.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        torch.set_num_threads(max(1, threads))
    corpus = stories(config.stories, seed=config.seed)
    progress(f"Corpus: {len(corpus):,} generated stories (seed {config.seed})")
    tokenizer = tokenizer_train([story_text(s) for s in corpus], vocab_size=config.vocab_size)
    tokenizer.save_pretrained(out)
    progress(f"Tokenizer: byte-level BPE, {len(tokenizer):,} tokens")
    model = _new_model(config, tokenizer)
    progress(f"Model: GPT-2, {sum(p.numel() for p in model.parameters()):,} parameters, training on {device}")
    generation_config = _generation_config(tokenizer)

    def save_early(step: int, loss: float) -> None:
        model.generation_config = generation_config
        model.save_pretrained(out / EARLY_DIR)
        progress(f"Saved the early checkpoint (v0.1) at step {step}, loss {loss:.3f}")

    metrics = _train(model, tokenizer, corpus, config, device=device, progress=progress, checkpoint=save_early)
    model.to("cpu")
    model.generation_config = generation_config
    model.save_pretrained(out)
    metrics["sample"] = sample_text(model, tokenizer, SAMPLE_PROMPT, seed=config.seed)
    progress(f"Sample: {metrics['sample']}")
    metrics["examples"] = [
        {"prompt": prompt, "output": sample_text(model, tokenizer, prompt, seed=i)}
        for i, prompt in enumerate(demo_prompts(5))
    ]
    return metrics


def tokenizer_train(texts: list[str], *, vocab_size: int):
    """A byte-level BPE tokenizer that puts <|endoftext|> before every text, as the model saw in training."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(texts, trainer=trainer)
    eos_id = raw.token_to_id(EOS)
    raw.post_processor = processors.TemplateProcessing(
        single=f"{EOS} $A", pair=f"{EOS} $A {EOS} $B", special_tokens=[(EOS, eos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=raw, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=PAD, model_max_length=256
    )


def _new_model(config: DemoConfig, tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    model_config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=config.n_positions,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return GPT2LMHeadModel(model_config)


def _token_stream(tokenizer, corpus: list[Story]):
    import torch

    ids: list[int] = []
    for item in corpus:
        ids.extend(tokenizer(story_text(item))["input_ids"])  # starts with <|endoftext|>
    return torch.tensor(ids, dtype=torch.long)


def _train(
    model,
    tokenizer,
    corpus: list[Story],
    config: DemoConfig,
    *,
    device: str,
    progress: Progress,
    checkpoint: Callable[[int, float], None] | None = None,
) -> dict:
    import torch

    stream = _token_stream(tokenizer, corpus)
    generator = torch.Generator().manual_seed(config.seed)
    model.to(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    budget = max(0.5, config.train_seconds)
    started = time.monotonic()
    last_report = started
    step, tokens, losses = 0, 0, []
    early: dict[str, float] = {}
    # One step more after the early checkpoint however short the budget, so v0.1 and v1.0 always differ.
    while ((elapsed := time.monotonic() - started) < budget and step < config.max_steps) or early.get("steps") == step:
        # Learning rate follows the time budget: a short warm-up, then a cosine decay to 10 %.
        fraction = max(elapsed / budget, step / config.max_steps)
        warmup = min(1.0, (step + 1) / 30)
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate * warmup * (0.1 + 0.45 * (1 + math.cos(math.pi * fraction)))
        starts = torch.randint(0, len(stream) - config.block_size - 1, (config.batch_size,), generator=generator)
        batch = torch.stack([stream[s : s + config.block_size] for s in starts.tolist()]).to(device)
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        tokens += batch.numel()
        losses.append(float(loss.detach()))
        done = max((time.monotonic() - started) / budget, step / config.max_steps)
        if checkpoint is not None and not early and done >= EARLY_FRACTION:
            early = {"steps": step, "loss": round(sum(losses[-20:]) / len(losses[-20:]), 4)}
            checkpoint(step, early["loss"])
        now = time.monotonic()
        if now - last_report >= 5 or step == 1:
            last_report = now
            rate = tokens / max(now - started, 1e-6)
            progress(
                f"  step {step:5d}  loss {losses[-1]:.3f}  {rate:,.0f} tokens/s  ETA {max(0.0, budget - (now - started)):.0f}s"
            )
    seconds = time.monotonic() - started
    final_loss = sum(losses[-20:]) / len(losses[-20:])
    progress(f"Trained {step} steps in {seconds:.0f}s, {tokens / seconds:,.0f} tokens/s, loss {final_loss:.3f}")
    model.eval()
    return {
        "steps": step,
        "tokens": tokens,
        "seconds": round(seconds, 1),
        "tokens_per_second": round(tokens / seconds),
        "final_loss": round(final_loss, 4),
        "device": device,
        "parameters": sum(p.numel() for p in model.parameters()),
        "early_checkpoint": early,
    }


def _generation_config(tokenizer):
    from transformers import GenerationConfig

    return GenerationConfig(
        do_sample=True,
        temperature=0.8,
        top_k=40,
        top_p=0.95,
        repetition_penalty=1.1,
        max_new_tokens=60,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def sample_text(model, tokenizer, prompt: str, *, seed: int = 0, max_new_tokens: int = 40) -> str:
    """Generate one continuation with the model's own sampling defaults (used for the card and by tests)."""
    import torch

    torch.manual_seed(seed)
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=max_new_tokens)
    return tokenizer.decode(output[0], skip_special_tokens=True)
