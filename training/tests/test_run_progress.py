"""What the run page computes from a run's history: the ETA, the latest figures, the chart's points, whatever
the history holds (gaps, NaN, junk), and a bounded number of points for a long run."""

from __future__ import annotations

import datetime as dt

from training.models import TrainingRun
from training.run_progress import MAX_CHART_POINTS, chart_points, duration, progress_of

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


def run_with(history, **fields) -> TrainingRun:
    defaults = {"status": "running", "step": 0, "total_steps": 0, "started_at": NOW - dt.timedelta(seconds=100)}
    return TrainingRun(history=history, **{**defaults, **fields})


def test_eta_follows_the_pace_so_far_and_latest_figures_skip_gaps():
    history = [
        {"step": 10, "loss": 2.0, "learning_rate": 1e-3, "tokens_per_second": 900.0, "elapsed": 20.0},
        {"step": 20, "eval_loss": 1.9, "elapsed": 40.0},
    ]
    progress = progress_of(run_with(history, step=20, total_steps=50), now=NOW)
    assert progress.eta_seconds == 60.0 and progress.percent == 40  # 30 steps left at 2 s a step
    assert (progress.loss, progress.eval_loss, progress.learning_rate) == (2.0, 1.9, 1e-3)
    assert progress.tokens_per_second == 900.0 and not progress.terminal


def test_no_eta_before_the_first_step_nor_after_the_end():
    assert progress_of(run_with([], total_steps=50), now=NOW).eta_seconds is None
    done = run_with([], status="succeeded", step=50, total_steps=50, finished_at=NOW - dt.timedelta(seconds=10))
    progress = progress_of(done, now=NOW)
    assert progress.eta_seconds is None and progress.terminal and progress.elapsed_seconds == 90.0
    assert progress_of(run_with(None, status="queued", started_at=None), now=NOW).percent == 0


def test_chart_points_ignore_junk_and_a_long_run_is_thinned():
    junk = [None, "x", {"step": "3", "loss": 1.0}, {"step": 4, "loss": float("nan")}, {"step": 5, "loss": True}]
    assert chart_points(run_with([*junk, {"step": 6, "loss": 1.5, "eval_loss": 1.25}])) == {
        "train": [[6, 1.5]],
        "validation": [[6, 1.25]],
    }
    long = [{"step": i, "loss": 1.0 / i} for i in range(1, 10_001)]
    points = chart_points(run_with(long))["train"]
    assert len(points) == MAX_CHART_POINTS and points[0][0] == 1 and points[-1][0] == 10_000


def test_durations_read_as_people_say_them():
    assert [duration(None), duration(45.4), duration(200), duration(7500)] == ["—", "45 s", "3 min 20 s", "2 h 05 min"]
