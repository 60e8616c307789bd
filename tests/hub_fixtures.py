"""Helpers for the Hub client tests, and a script run in a child process with HF_ENDPOINT set.

`python -m tests.hub_fixtures <workdir> <model_repo> <revision> <dataset_repo>...`:
1. builds a tiny GPT-2 and its tokenizer in <workdir>/model, prints `BUILT` and waits for a line
   on stdin (the test commits the files meanwhile);
2. loads the model and tokenizer with transformers' `from_pretrained` from the live server, and each
   dataset with `datasets.load_dataset`;
3. prints one JSON line with what it saw.

A child process is the faithful way: huggingface_hub reads HF_ENDPOINT when it is imported.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

SENTENCES = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a bird flew over the house",
    "the house was red and the mat was blue",
]
PROMPT = "the cat sat"


def child_env(*, endpoint: str, home: Path) -> dict[str, str]:
    """The environment of a client process that talks only to `endpoint` and caches under `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(
        {
            "HF_ENDPOINT": endpoint,
            "HF_HOME": str(home),
            "HF_HUB_CACHE": str(home / "hub"),
            "HF_DATASETS_CACHE": str(home / "datasets"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_ETAG_TIMEOUT": "30",
            "HF_HUB_DOWNLOAD_TIMEOUT": "30",
            "DISABLE_SAFETENSORS_CONVERSION": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def build_tiny_gpt2(folder: Path) -> list[int]:
    """A 2-layer GPT-2 with a word-level tokenizer trained on SENTENCES; returns its greedy output ids."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(SENTENCES, trainers.WordLevelTrainer(special_tokens=["[UNK]", "[EOS]"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", eos_token="[EOS]")
    config = GPT2Config(
        vocab_size=tokenizer.get_vocab_size(),
        n_positions=32,
        n_embd=32,
        n_layer=2,
        n_head=2,
        eos_token_id=1,
        bos_token_id=1,
    )
    model = GPT2LMHeadModel(config).eval()
    model.save_pretrained(folder, safe_serialization=True)
    fast.save_pretrained(folder)
    return _generate(model, fast)


def _generate(model, tokenizer) -> list[int]:
    import torch

    inputs = tokenizer(PROMPT, return_tensors="pt")
    with torch.no_grad():
        output = model.generate(
            inputs["input_ids"], attention_mask=inputs["attention_mask"], max_new_tokens=8, do_sample=False
        )
    return output[0].tolist()


def _load_from_hub(repo_id: str, revision: str) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(repo_id, revision=revision)
    model = AutoModelForCausalLM.from_pretrained(repo_id, revision=revision).eval()
    return {"generated": _generate(model, tokenizer)}


def _load_dataset(repo_id: str) -> list[dict]:
    import datasets

    loaded = datasets.load_dataset(repo_id, split="train")
    return [dict(row) for row in loaded]


def main(argv: list[str]) -> None:
    workdir, model_repo, revision, *dataset_repos = argv
    expected = build_tiny_gpt2(Path(workdir) / "model")
    print("BUILT", flush=True)
    sys.stdin.readline()
    result = {"expected": expected, "hub": _load_from_hub(model_repo, revision)}
    result["datasets"] = {repo: _load_dataset(repo) for repo in dataset_repos}
    print("RESULT " + json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
