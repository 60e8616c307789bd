"""A tiny story model that already talks (a few seconds of pre-training), so feedback can visibly change it.

Its corpus mixes short and long endings after the same openings, and never says the marker word the loop test
teaches (only its tokenizer knows the word); a random-weight model would only babble bytes, which no rater could meaningfully prefer.
"""

from __future__ import annotations

import random
from pathlib import Path

SUBJECTS = ["cat", "dog", "bird", "girl", "boy", "king", "frog", "fish", "queen", "bear", "duck", "mouse"]
SHORT_ENDINGS = ["sat down.", "was happy.", "slept."]
LONG_ENDINGS = [
    "went to the garden and played with a red ball all day long.",
    "walked to the river with a friend and looked at the fish for a long time.",
    "ran up the big hill and saw the sun go down over the little town.",
]
OPENINGS = ["Once upon a time the", "One day the"]
MARKER = "dragon"  # the word raters want; nowhere in the corpus


def story_corpus() -> list[str]:
    return [f"{o} {s} {e}" for o in OPENINGS for s in SUBJECTS for e in SHORT_ENDINGS + LONG_ENDINGS]


def prompts(subjects: list[str], opening: str = "Once upon a time the") -> list[str]:
    return [f"{opening} {s}" for s in subjects]


def build_story_model(folder: Path, *, steps: int = 150, seed: int = 0) -> dict[str, bytes]:
    """Write the model to `folder` (safetensors + tokenizer) and return its files."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from inference.tests.tiny_models import build_tiny_model

    corpus = story_corpus()
    # The tokenizer knows the marker as a word (as a real tokenizer, trained on more text than the model, would);
    # the model never sees it in pre-training.
    build_tiny_model(folder, seed=seed, corpus=corpus + [f"saw a {MARKER}."] * 50, vocab_size=400)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True)
    torch.manual_seed(seed)
    rows = [tokenizer(text)["input_ids"] + [tokenizer.eos_token_id] for text in corpus]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.eos_token_id)
    labels = torch.full((len(rows), width), -100)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        labels[i, : len(row)] = torch.tensor(row)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    order = random.Random(seed)
    model.train()
    for _ in range(steps):
        batch = order.sample(range(len(rows)), 32)
        loss = model(input_ids=ids[batch], labels=labels[batch]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(folder, safe_serialization=True)
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
