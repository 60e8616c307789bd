"""Fine-tune a causal LM with TRL (SFT, DPO or KTO) from local files: paths and parameters in, files and metrics out.

Pure ML code (no ORM): the Celery job (training/job.py) adapts a TrainingRun row to `finetune()` and reports
what the `Reporter` hears back to the database. torch, transformers and trl are imported inside the functions.

Rules from TRL 1.16 that shape this module (shared/trl_formats.md): bf16 only on CUDA (its configs default to
bf16 and refuse to start on a CPU-only host), gradient checkpointing off on CPU, the tokenizer passed as
`processing_class`, an explicit reference model for DPO/KTO without LoRA (TRL would otherwise load one from
`_name_or_path` with its own loader), and no extra dataset processes in a worker.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHECKPOINTS = "checkpoints"
FINAL = "final"
SAMPLE_PROMPTS = 4
SAMPLE_TOKENS = 32
# What a revision needs; never training_args.bin (a pickle) or optimizer state.
OUTPUT_SUFFIXES = (".json", ".safetensors", ".txt", ".model", ".jinja")


@dataclass
class FinetuneSpec:
    method: str  # sft | dpo | kto
    base_dir: Path  # config.json, *.safetensors, tokenizer files
    train_files: list[Path]
    validation_files: list[Path]
    run_dir: Path  # checkpoints/ and final/ are written here
    hyperparameters: dict[str, Any]
    use_lora: bool = False
    resume: bool = True  # continue from the newest checkpoint in run_dir, if any
    threads: int | None = None
    samples: int = SAMPLE_PROMPTS


class Reporter:
    """What the job hears while training; the default hears nothing (a direct call, the benchmark)."""

    def started(self, *, total_steps: int, device: str, resumed_from: int) -> None: ...

    def logged(self, point: dict[str, Any]) -> None: ...

    def line(self, text: str) -> None: ...

    def should_stop(self) -> bool:
        return False


@dataclass
class FinetuneResult:
    output_dir: Path | None  # None when stopped before the end
    stopped: bool
    device: str
    steps: int
    train_tokens: int
    train_seconds: float
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    samples: list[dict[str, str]] = field(default_factory=list)
    train_cpu_seconds: float = 0.0  # CPU time of this process (every thread) over the training loop

    @property
    def tokens_per_second(self) -> float:
        return self.train_tokens / self.train_seconds if self.train_seconds > 0 else 0.0


def read_rows(paths: list[Path]) -> list[dict]:
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            rows.extend(json.loads(line) for line in handle if line.strip())
    return rows


def training_rows(rows: list[dict], method: str, *, has_chat_template: bool) -> list[dict]:
    """Only the columns the method's trainer reads, in one format for the whole split (TRL decides per dataset)."""
    if method == "dpo":
        return [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in rows]
    if method == "kto":
        return [{"prompt": r["prompt"], "completion": r["completion"], "label": bool(r["label"])} for r in rows]
    first = rows[0] if rows else {}
    if "prompt" in first and "completion" in first:
        # The completion is the continuation exactly as generated; TRL joins the two with no separator.
        return [{"prompt": r["prompt"], "completion": r["completion"]} for r in rows]
    if "messages" in first:
        if has_chat_template:
            # Conversational prompt-completion: the loss falls on the last assistant turn only.
            return [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows]
        # A base model without a chat template trains on plain text laid out as the inference engine prompts it
        # (inference.engine.encode_prompt: "role: content" lines, then "assistant:").
        return [
            {
                "prompt": "\n".join(f"{m['role']}: {m['content']}" for m in r["messages"][:-1]) + "\nassistant:",
                "completion": " " + r["messages"][-1]["content"],
            }
            for r in rows
        ]
    return [{"text": r["text"]} for r in rows]


def pick_device() -> tuple[str, str]:
    """("cuda"/"cpu", a label for people: "cuda:0 (NVIDIA H200) x2" or "cpu")."""
    import torch

    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        label = f"cuda:0 ({torch.cuda.get_device_name(0)})" + (f" x{count}" if count > 1 else "")
        return "cuda", label
    return "cpu", "cpu"


def load_causal_lm(path: Path, *, device_kind: str, frozen: bool = False):
    """Safetensors only, never remote code. Trained weights stay fp32 (bf16 autocast on CUDA keeps fp32 master
    weights for the optimizer); a frozen reference model is kept in bf16 on CUDA."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if device_kind == "cuda" and frozen else torch.float32
    return AutoModelForCausalLM.from_pretrained(
        path, dtype=dtype, use_safetensors=True, trust_remote_code=False, local_files_only=True
    )


def last_checkpoint(run_dir: Path) -> Path | None:
    folder = run_dir / CHECKPOINTS
    if not folder.is_dir():
        return None
    done = [
        p
        for p in folder.glob("checkpoint-*")
        if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").exists()
    ]
    return max(done, key=lambda p: int(p.name.split("-")[-1]), default=None)


def _config(spec: FinetuneSpec, device_kind: str, has_validation: bool):
    from trl import DPOConfig, KTOConfig, SFTConfig

    hp = spec.hyperparameters
    common = dict(
        output_dir=str(spec.run_dir / CHECKPOINTS),
        max_steps=hp["max_steps"] or -1,
        num_train_epochs=hp["num_train_epochs"],
        learning_rate=hp["learning_rate"],
        per_device_train_batch_size=hp["per_device_train_batch_size"],
        per_device_eval_batch_size=max(2, hp["per_device_train_batch_size"]),
        gradient_accumulation_steps=hp["gradient_accumulation_steps"],
        warmup_steps=hp["warmup_steps"],
        weight_decay=hp["weight_decay"],
        seed=hp["seed"],
        data_seed=hp["seed"],
        max_length=hp["max_length"],
        bf16=device_kind == "cuda",
        gradient_checkpointing=False,
        logging_steps=hp["logging_steps"],
        save_strategy="steps",
        save_steps=hp["save_steps"],
        save_total_limit=2,
        eval_strategy="steps" if hp["eval_steps"] and has_validation else "no",
        eval_steps=hp["eval_steps"] or None,
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=device_kind == "cuda",
        include_num_input_tokens_seen="non_padding",
    )
    if spec.method == "sft":
        return SFTConfig(**common)
    if spec.method == "dpo":
        return DPOConfig(beta=hp["beta"], **common)
    return KTOConfig(beta=hp["beta"], **common)


def _lora_config(spec: FinetuneSpec, model):
    from peft import LoraConfig

    names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if module.__class__.__name__ in ("Linear", "Conv1D")
    }
    # Attention projections of the common families (Llama/Qwen/Mistral: q_proj, v_proj; GPT-2: c_attn).
    targets = sorted(names & {"q_proj", "v_proj", "c_attn", "query_key_value", "Wqkv"}) or "all-linear"
    return LoraConfig(
        r=spec.hyperparameters["lora_r"],
        lora_alpha=spec.hyperparameters["lora_alpha"],
        target_modules=targets,
        task_type="CAUSAL_LM",
    )


def _progress_callback(reporter: Reporter, state_box: dict):
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """Hands progress to the reporter and stops at the next step when asked (cancel, a lost lease)."""

        def on_train_begin(self, args, state, control, **kwargs):
            state_box["start"] = time.monotonic()
            state_box["tokens_at_start"] = state.num_input_tokens_seen or 0

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            elapsed = time.monotonic() - state_box.get("start", time.monotonic())
            tokens = (state.num_input_tokens_seen or 0) - state_box.get("tokens_at_start", 0)
            point = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4), "elapsed": round(elapsed, 3)}
            if "loss" in logs:
                point["loss"] = logs["loss"]
            if "eval_loss" in logs:
                point["eval_loss"] = logs["eval_loss"]
            if "learning_rate" in logs:
                point["learning_rate"] = logs["learning_rate"]
            if elapsed > 0:
                point["tokens_per_second"] = round(tokens / elapsed, 1)
            if len(point) > 3:
                reporter.logged(point)
                shown = {k: v for k, v in logs.items() if isinstance(v, int | float)}
                reporter.line(
                    f"step {state.global_step}/{state.max_steps} " + " ".join(f"{k}={v:.4g}" for k, v in shown.items())
                )

        def on_step_end(self, args, state, control, **kwargs):
            if reporter.should_stop():
                state_box["stopped"] = True
                control.should_training_stop = True
                control.should_save = False

        def on_save(self, args, state, control, **kwargs):
            reporter.line(f"checkpoint saved at step {state.global_step}")

    return Progress()


def sequence_logps(model, tokenizer, prompts: list[str], completions: list[str], *, device: str, batch: int = 8):
    """Sum of log-probabilities of each completion after its prompt (the quantity DPO and KTO compare)."""
    import torch

    results: list[float] = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(prompts), batch):
            chunk = list(zip(prompts[start : start + batch], completions[start : start + batch], strict=True))
            for prompt, completion in chunk:
                prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
                completion_ids = tokenizer(prompt + completion, add_special_tokens=False)["input_ids"][
                    len(prompt_ids) :
                ]
                ids = torch.tensor([prompt_ids + completion_ids], device=device)
                if not completion_ids:
                    results.append(0.0)
                    continue
                logits = model(input_ids=ids).logits[0, :-1].float()
                logps = torch.log_softmax(logits, dim=-1)
                targets = ids[0, 1:]
                picked = logps.gather(1, targets.unsqueeze(1)).squeeze(1)[len(prompt_ids) - 1 :]
                results.append(float(picked.sum()))
    return results


def preference_metrics(model, ref_model, tokenizer, rows: list[dict], *, method: str, beta: float, device: str):
    """Preference accuracy and reward margin on the validation rows (rewards relative to the parent)."""
    if method == "dpo":
        prompts = [r["prompt"] for r in rows]
        chosen = sequence_logps(model, tokenizer, prompts, [r["chosen"] for r in rows], device=device)
        rejected = sequence_logps(model, tokenizer, prompts, [r["rejected"] for r in rows], device=device)
        ref_chosen = sequence_logps(ref_model, tokenizer, prompts, [r["chosen"] for r in rows], device=device)
        ref_rejected = sequence_logps(ref_model, tokenizer, prompts, [r["rejected"] for r in rows], device=device)
        margins = [
            beta * ((c - rc) - (r - rr))
            for c, r, rc, rr in zip(chosen, rejected, ref_chosen, ref_rejected, strict=True)
        ]
        # Accuracy is the model's own preference: does it find the chosen answer likelier than the rejected one?
        accuracy = sum(c > r for c, r in zip(chosen, rejected, strict=True)) / len(rows)
        return {"preference_accuracy": accuracy, "reward_margin": sum(margins) / len(margins)}
    prompts = [r["prompt"] for r in rows]
    completions = [r["completion"] for r in rows]
    logps = sequence_logps(model, tokenizer, prompts, completions, device=device)
    ref = sequence_logps(ref_model, tokenizer, prompts, completions, device=device)
    rewards = [beta * (a - b) for a, b in zip(logps, ref, strict=True)]
    good = [w for w, r in zip(rewards, rows, strict=True) if r["label"]]
    bad = [w for w, r in zip(rewards, rows, strict=True) if not r["label"]]
    # A row counts as right when its reward's sign matches its label; a zero reward (the parent itself) half.
    right = sum(
        1.0 if (w > 0) == bool(r["label"]) and w != 0 else 0.5 if w == 0 else 0.0
        for w, r in zip(rewards, rows, strict=True)
    )
    margin = (sum(good) / len(good) if good else 0.0) - (sum(bad) / len(bad) if bad else 0.0)
    return {"preference_accuracy": right / len(rows), "reward_margin": margin}


def sft_metrics(trainer) -> dict[str, float]:
    loss = float(trainer.evaluate()["eval_loss"])
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}


def sample_generations(parent_dir: Path, child_dir: Path, prompts: list[str]) -> list[dict[str, str]]:
    """Greedy continuations of held-out prompts by the parent and the child, side by side (inference engine)."""

    from inference.engine import Request, SamplingParams, encode_prompt, generate_batch, load_model

    if not prompts:
        return []
    texts: dict[str, list[str]] = {}
    for name, folder in (("parent", parent_dir), ("child", child_dir)):
        loaded = load_model(folder)
        params = SamplingParams(max_new_tokens=SAMPLE_TOKENS, temperature=0.0, seed=0)
        requests = [Request(prompt_ids=encode_prompt(loaded, prompt=p), params=params) for p in prompts]
        generate_batch(loaded, requests)
        texts[name] = [r.text for r in requests]
        del loaded
    return [
        {"prompt": p, "parent": a, "child": b} for p, a, b in zip(prompts, texts["parent"], texts["child"], strict=True)
    ]


def _prompt_text(prompt: Any) -> str | None:
    if isinstance(prompt, str):
        return prompt
    return None


def finetune(spec: FinetuneSpec, reporter: Reporter | None = None) -> FinetuneResult:
    """Train, evaluate before and after, write the merged weights and tokenizer to run_dir/final, sample both."""
    import torch
    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar
    from transformers import AutoTokenizer, set_seed
    from transformers.utils import logging as transformers_logging
    from trl import DPOTrainer, KTOTrainer, SFTTrainer

    # Progress bars are for terminals; a worker's log gets the reporter's lines instead.
    disable_progress_bar()
    transformers_logging.disable_progress_bar()
    reporter = reporter or Reporter()
    if spec.threads:
        torch.set_num_threads(spec.threads)
    hp = spec.hyperparameters
    set_seed(hp["seed"])
    device_kind, device_label = pick_device()
    tokenizer = AutoTokenizer.from_pretrained(spec.base_dir, trust_remote_code=False, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    has_template = bool(getattr(tokenizer, "chat_template", None))
    train_rows = training_rows(read_rows(spec.train_files), spec.method, has_chat_template=has_template)
    validation_rows = training_rows(read_rows(spec.validation_files), spec.method, has_chat_template=has_template)
    reporter.line(
        f"{spec.method.upper()} on {len(train_rows)} rows ({len(validation_rows)} for validation), {device_label}"
    )
    model = load_causal_lm(spec.base_dir, device_kind=device_kind)
    ref_model = None
    peft_config = _lora_config(spec, model) if spec.use_lora else None
    if spec.method in ("dpo", "kto") and peft_config is None:
        ref_model = load_causal_lm(spec.base_dir, device_kind=device_kind, frozen=True)
    config = _config(spec, device_kind, bool(validation_rows))
    state_box: dict[str, Any] = {}
    trainer_class = {"sft": SFTTrainer, "dpo": DPOTrainer, "kto": KTOTrainer}[spec.method]
    extra = {"ref_model": ref_model} if spec.method != "sft" else {}
    trainer = trainer_class(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(validation_rows) if validation_rows else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[_progress_callback(reporter, state_box)],
        **extra,
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the reporter logs what matters; no dict per step on stdout
    device = str(trainer.model.device) if hasattr(trainer.model, "device") else device_kind
    checkpoint = last_checkpoint(spec.run_dir) if spec.resume else None
    resumed_from = int(checkpoint.name.split("-")[-1]) if checkpoint else 0
    total = trainer.state.max_steps or _total_steps(trainer)
    reporter.started(total_steps=total, device=device_label, resumed_from=resumed_from)
    beta = hp["beta"]
    # Under accelerate launch (several GPUs) every rank trains; rank 0 alone evaluates its own way, saves, samples.
    main_process = trainer.is_world_process_zero()
    metrics: dict[str, dict[str, float]] = {}
    plain_prompts = all(isinstance(r.get("prompt"), str) for r in validation_rows)
    if spec.method == "sft":
        metrics["before"] = sft_metrics(trainer) if validation_rows else {}
    elif plain_prompts and validation_rows and main_process:
        base_ref = ref_model if ref_model is not None else trainer.model
        metrics["before"] = preference_metrics(
            trainer.model, base_ref, tokenizer, validation_rows, method=spec.method, beta=beta, device=device
        )
    if checkpoint:
        reporter.line(f"resuming from {checkpoint.name}")
        # Points logged before the checkpoint that the reporter may never have passed on (a worker killed
        # between its last report and the checkpoint); a reporter keeps one point per step.
        for logged in json.loads((checkpoint / "trainer_state.json").read_text()).get("log_history", []):
            point = {k: logged[k] for k in ("step", "epoch", "loss", "eval_loss", "learning_rate") if k in logged}
            if "loss" in point or "eval_loss" in point:
                reporter.logged(point)
    started, started_cpu = time.monotonic(), time.process_time()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    train_seconds, cpu_seconds = time.monotonic() - started, time.process_time() - started_cpu
    train_tokens = int(trainer.state.num_input_tokens_seen or 0) - int(state_box.get("tokens_at_start", 0))
    steps = trainer.state.global_step
    if state_box.get("stopped"):
        reporter.line(f"stopped at step {steps}")
        return FinetuneResult(None, True, device_label, steps, train_tokens, train_seconds, {}, [], cpu_seconds)
    if spec.method == "sft":  # a collective evaluation: every rank takes part, before any merge
        metrics["after"] = sft_metrics(trainer) if validation_rows else {}
    if not main_process:
        return FinetuneResult(None, False, device_label, steps, train_tokens, train_seconds, metrics, [], cpu_seconds)
    output_dir = spec.run_dir / FINAL
    output_dir.mkdir(parents=True, exist_ok=True)
    trained = trainer.model
    if peft_config is not None:
        trained = trainer.model.merge_and_unload()
    if spec.method != "sft" and plain_prompts and validation_rows:
        # With LoRA the merge changed the base weights in place: the parent is loaded again.
        reference = ref_model
        if reference is None:
            reference = load_causal_lm(spec.base_dir, device_kind=device_kind, frozen=True)
        metrics["after"] = preference_metrics(
            trained, reference.to(device), tokenizer, validation_rows, method=spec.method, beta=beta, device=device
        )
    trained.save_pretrained(output_dir, safe_serialization=True)
    tokenizer.save_pretrained(output_dir)
    for leftover in output_dir.iterdir():
        if leftover.is_file() and not leftover.name.endswith(OUTPUT_SUFFIXES):
            leftover.unlink()
    reporter.line(f"trained {steps} steps in {train_seconds:.1f} s; weights written")
    del trainer, model, ref_model, trained
    prompts = list(dict.fromkeys(p for r in validation_rows if (p := _prompt_text(r.get("prompt")))))[: spec.samples]
    samples = sample_generations(spec.base_dir, output_dir, prompts)
    return FinetuneResult(
        output_dir, False, device_label, steps, train_tokens, train_seconds, metrics, samples, cpu_seconds
    )


def _total_steps(trainer) -> int:
    args = trainer.args
    if args.max_steps and args.max_steps > 0:
        return args.max_steps
    per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps * max(1, args.world_size)
    return max(1, math.ceil(len(trainer.train_dataset) / per_step) * math.ceil(args.num_train_epochs))
