"""What a run's pages show about its progress: the bar, the ETA, the latest figures, the loss chart's points."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from training.models import TrainingRun

MAX_CHART_POINTS = 400  # a long run's history is thinned to this many points (the last one always kept)


@dataclass(frozen=True)
class Progress:
    step: int
    total_steps: int
    percent: int
    eta_seconds: float | None
    elapsed_seconds: float | None
    loss: float | None
    eval_loss: float | None
    learning_rate: float | None
    tokens_per_second: float | None
    epoch: float | None
    terminal: bool


def _latest(history: list[dict], key: str):
    for point in reversed(history):
        if isinstance(point, dict) and point.get(key) is not None:
            return point[key]
    return None


def progress_of(run: TrainingRun, *, now: datetime) -> Progress:
    history = run.history if isinstance(run.history, list) else []
    total, step = run.total_steps or 0, run.step or 0
    percent = min(100, int(100 * step / total)) if total else (100 if run.status == run.Status.SUCCEEDED else 0)
    elapsed = (now - run.started_at).total_seconds() if run.started_at else None
    if run.finished_at and run.started_at:
        elapsed = (run.finished_at - run.started_at).total_seconds()
    eta = None
    if run.status == run.Status.RUNNING and total and 0 < step < total and elapsed:
        # The pace so far, from the job's own clock when it reports one (model loading excluded).
        trained_for = _latest(history, "elapsed") or elapsed
        eta = max(0.0, (total - step) * trained_for / step)
    return Progress(
        step=step,
        total_steps=total,
        percent=percent,
        eta_seconds=eta,
        elapsed_seconds=elapsed,
        loss=_latest(history, "loss"),
        eval_loss=_latest(history, "eval_loss"),
        learning_rate=_latest(history, "learning_rate"),
        tokens_per_second=_latest(history, "tokens_per_second"),
        epoch=_latest(history, "epoch"),
        terminal=run.status in TrainingRun.FINISHED,
    )


def chart_points(run: TrainingRun) -> dict[str, list]:
    """Train and validation loss against the step, thinned to MAX_CHART_POINTS, for the chart script."""
    history = [p for p in (run.history if isinstance(run.history, list) else []) if isinstance(p, dict)]
    train = [(p.get("step"), p["loss"]) for p in history if _number(p.get("loss")) and _number(p.get("step"))]
    evals = [(p.get("step"), p["eval_loss"]) for p in history if _number(p.get("eval_loss")) and _number(p.get("step"))]
    return {"train": _thin(train), "validation": _thin(evals)}


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value  # NaN is not drawn


def _thin(points: list[tuple]) -> list[list]:
    if len(points) > MAX_CHART_POINTS:
        stride = len(points) / (MAX_CHART_POINTS - 1)
        points = [points[int(i * stride)] for i in range(MAX_CHART_POINTS - 1)] + [points[-1]]
    return [[step, round(float(value), 6)] for step, value in points]


def duration(seconds: float | None) -> str:
    """'2 h 05 min', '3 min 20 s', '45 s'."""
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
