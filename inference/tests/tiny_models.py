"""Tiny causal LMs built in a second (random weights) for tests: a base model and one with a chat template."""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "Once upon a time there was a little cat named Tom.",
    "The cat liked to play in the garden with a red ball.",
    "One day the dog came to visit and they played all day.",
] * 20
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_tiny_model(
    folder: Path,
    *,
    chat: bool = False,
    seed: int = 0,
    corpus: list[str] = CORPUS,
    vocab_size: int = 300,
    size: tuple[int, int, int, int] = (32, 2, 2, 128),
) -> dict[str, bytes]:
    """Write a tiny GPT-2 and its BPE tokenizer to `folder`; return the files as {path: bytes}.

    `size`: (n_embd, n_layer, n_head, n_positions); the benchmarks build bigger ones the same way."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=tokenizer.get_vocab_size(),
        n_embd=size[0],
        n_layer=size[1],
        n_head=size[2],
        n_positions=size[3],
        eos_token_id=0,
        bos_token_id=0,
    )
    model = GPT2LMHeadModel(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    fast.save_pretrained(folder)
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
