"""The hyper-parameters a run accepts: defaults, types and bounds, checked before anything is queued."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError


@dataclass(frozen=True)
class Param:
    kind: type
    default: object
    low: float
    high: float
    help: str


# Learning rates follow TRL's defaults per method (SFT 2e-5, DPO/KTO 1e-6) unless given.
PARAMS: dict[str, Param] = {
    "max_steps": Param(int, 0, 0, 1_000_000, "Optimizer steps (0: train num_train_epochs epochs instead)."),
    "num_train_epochs": Param(float, 1.0, 0.01, 1000, "Epochs over the train split when max_steps is 0."),
    "learning_rate": Param(float, None, 1e-9, 1.0, "Peak learning rate."),
    "per_device_train_batch_size": Param(int, 8, 1, 1024, "Rows per device per step (KTO needs at least 2)."),
    "gradient_accumulation_steps": Param(int, 1, 1, 1024, "Micro-batches per optimizer step."),
    "max_length": Param(int, 512, 8, 32768, "Longest tokenized row; longer rows are truncated."),
    "seed": Param(int, 42, 0, 2**31 - 1, "Seed for weights, data order and dropout."),
    "warmup_steps": Param(int, 0, 0, 100_000, "Linear warm-up steps."),
    "weight_decay": Param(float, 0.0, 0.0, 1.0, "AdamW weight decay."),
    "beta": Param(float, 0.1, 1e-4, 100.0, "DPO/KTO: how close to stay to the base model."),
    "lora_r": Param(int, 8, 1, 1024, "LoRA rank (with use_lora)."),
    "lora_alpha": Param(int, 16, 1, 4096, "LoRA scaling (with use_lora)."),
    "save_steps": Param(int, 50, 1, 1_000_000, "Checkpoint every this many steps (resumed from after a crash)."),
    "logging_steps": Param(int, 1, 1, 10_000, "Report loss every this many steps."),
    "eval_steps": Param(int, 0, 0, 1_000_000, "Validation loss every this many steps (0: at the end only)."),
}
DEFAULT_LEARNING_RATE = {"sft": 2e-5, "dpo": 1e-6, "kto": 1e-6}


def hyperparameters_clean(raw: object, *, method: str) -> dict:
    """Every parameter with its default filled in, or ValidationError naming each bad one."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValidationError("hyperparameters must be an object of name: value.")
    problems = []
    unknown = sorted(str(k)[:64] for k in raw if k not in PARAMS)
    if unknown:
        problems.append(f"Unknown hyper-parameters: {', '.join(unknown[:10])} (known: {', '.join(PARAMS)}).")
    clean: dict = {}
    for name, param in PARAMS.items():
        value = raw.get(name, param.default)
        if value is None:
            value = DEFAULT_LEARNING_RATE[method] if name == "learning_rate" else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{name} must be a number.")
            continue
        if param.kind is int and value != int(value):
            problems.append(f"{name} must be a whole number.")
            continue
        value = param.kind(value)
        if not param.low <= value <= param.high:
            problems.append(f"{name} must be between {param.low:g} and {param.high:g}.")
            continue
        clean[name] = value
    if not problems and method == "kto" and clean["per_device_train_batch_size"] < 2:
        problems.append("KTO needs per_device_train_batch_size of at least 2 (its KL estimate pairs rows in a batch).")
    if problems:
        raise ValidationError(problems)
    return clean
