"""The retraining loop in headless Chromium with a real worker: the demo maintainer picks a model in the admin
panel, retrains it from feedback, watches the progress bar and the loss chart move, and promotes the result."""

from __future__ import annotations

import pytest

from inference.tests.conftest import make_model_repo
from models_hub.dataset_selectors import dataset_validation_for
from tests.conftest import wait_for
from tests.test_browser import SHOTS, log_in
from tests.test_browser_csp import RECORD_VIOLATIONS
from training.management.commands.load_demo import demo_user_ensure
from training.models import Promotion, TrainingRun
from training.tests.datasets import make_dataset_repo, sft_row, snapshot_files
from training.tests.runs import head_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# What the run page showed after each htmx swap: [step, total, points on the chart's training line].
RECORD_PROGRESS = """
window.__progress = [];
document.addEventListener("htmx:afterSettle", function () {
  var chart = window.Chart && Chart.getChart("loss-chart");
  var step = document.getElementById("run-step"), total = document.getElementById("run-total");
  if (step && total) window.__progress.push([+step.textContent, +total.textContent, chart ? chart.data.datasets[0].data.length : -1]);
});
"""


# Enough steps that the page sees the run part-way even on a fast, quiet machine (a step takes milliseconds).
STEPS = 150


@pytest.fixture(autouse=True)
def quick_progress(settings):
    settings.FLYWHEEL_TRAINING_REPORT_SECONDS = 0.2
    settings.FLYWHEEL_RUN_PAGE_POLL_MS = 300


def test_the_demo_maintainer_retrains_from_the_admin_panel_watches_and_promotes(
    page, live_server, celery_worker, tiny_model_files
):
    demo = demo_user_ensure()
    model = make_model_repo(owner=demo, files=tiny_model_files)
    rows = [sft_row(f"Once upon a time {i}", " the cat played in the sun.") for i in range(24)]
    dataset = make_dataset_repo(owner=demo, files=snapshot_files(config="sft", train=rows, validation=rows[:4]))
    assert wait_for(lambda: dataset_validation_for(head_of(dataset)).status == "valid", timeout=60)
    log_in(page, live_server, demo)
    page.add_init_script(RECORD_VIOLATIONS)
    page.add_init_script(RECORD_PROGRESS)

    page.goto("/admin/models_hub/repository/?kind__exact=model")
    page.check(f"input[name=_selected_action][value='{model.pk}']")
    page.select_option("select[name=action]", "retrain_from_feedback")
    page.click("button[name=index]")
    page.wait_for_url("**/admin/training/trainingrun/retrain/?base=demo%2Ftiny")
    assert page.input_value("#id_base_model") == "demo/tiny"

    page.fill("#id_dataset", "demo/feedback")
    page.fill("#id_max_steps", str(STEPS))
    page.fill("#id_learning_rate", "0.001")
    page.fill("#id_per_device_train_batch_size", "2")
    page.fill("#id_max_length", "32")
    page.locator("#id_max_length").dispatch_event("change")  # htmx checks the run as the form changes
    page.wait_for_selector("#run-plan:has-text('Estimated time')")
    assert "24 training rows" in page.inner_text("#run-plan")
    assert page.evaluate("window.__cspViolations") == []  # the admin page, htmx and the check, under the policy
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "training-retrain-form.png"), full_page=True)
    page.click("#start-run")

    page.wait_for_url("**/training/runs/*")
    run = TrainingRun.objects.get()
    assert page.url.endswith(f"/training/runs/{run.pk}")
    page.wait_for_selector("#run-live[data-status='succeeded']", timeout=120_000)
    run.refresh_from_db()
    assert (run.status, run.step, run.total_steps, run.created_by) == ("succeeded", STEPS, STEPS, demo), run.error
    seen = page.evaluate("window.__progress")
    moving = [(step, points) for step, total, points in seen if 0 < step < total]
    # The bar and the chart moved while the run trained: seen part-way (how often depends on the machine's
    # load), never going back, and the chart held points before the run ended.
    assert moving, seen
    assert [step for step, _, _ in seen] == sorted(step for step, _, _ in seen), seen
    assert all(0 < points < STEPS for _, points in moving), seen
    assert page.evaluate("Chart.getChart('loss-chart').data.datasets[0].data.length") == STEPS
    assert page.get_attribute("#run-progress", "value") == str(STEPS)
    assert page.inner_text("#run-device") == "cpu"
    assert page.locator("#run-metrics").is_visible() and page.locator(".run-sample").count() >= 1
    polls = len(page.evaluate("window.__progress"))
    page.wait_for_timeout(1000)
    assert len(page.evaluate("window.__progress")) == polls  # the finished run's page stopped polling
    assert page.evaluate("window.__cspViolations") == []  # polling and the chart, under the policy
    page.screenshot(path=str(SHOTS / "training-run-succeeded.png"), full_page=True)

    page.goto(f"/admin/training/trainingrun/{run.pk}/change/")  # the run's admin page loads the same live panel
    page.wait_for_selector("#run-live[data-status='succeeded']")
    chart_points = "Chart.getChart('loss-chart') ? Chart.getChart('loss-chart').data.datasets[0].data.length : 0"
    assert wait_for(lambda: page.evaluate(chart_points) == STEPS)  # (wait_for_function's polling needs eval)
    assert page.evaluate("window.__cspViolations") == []
    page.click(f"a[href='/training/runs/{run.pk}']:has-text('Open')")

    page.fill("#promote-reason", "Lower validation loss; the samples read better.")
    page.click("#promote-run")
    page.wait_for_selector(".flash-success:has-text('Promoted')")
    promotion = Promotion.objects.get()
    assert (promotion.run, promotion.user, promotion.fast_forward) == (run, demo, True)
    assert head_of(model) == run.output_commit

    page.goto(f"/{model.repo_id}")
    page.wait_for_selector("#promotions-panel:has-text('Lower validation loss')")
    # main's card is now the run's, and links back to the run's page
    assert page.locator(f"article.markdown a[href='/training/runs/{run.pk}']").count() == 1
    assert page.evaluate("window.__cspViolations") == []


def test_the_retrain_form_builds_a_fresh_snapshot_and_then_names_its_commit(
    page, live_server, celery_worker, tiny_model_files
):
    from feedback.snapshots.models import FeedbackSnapshot
    from feedback.tests.test_snapshots import make_generation, rate

    demo = demo_user_ensure()
    model = make_model_repo(owner=demo, files=tiny_model_files)
    for i in range(12):
        generation = make_generation(repo=model, commit=head_of(model), prompt=f"Once upon a time {i}", text=" a cat")
        rate(generation, demo, thumb="up")
    log_in(page, live_server, demo)
    page.add_init_script(RECORD_VIOLATIONS)

    page.goto("/training/runs/new?base=demo%2Ftiny")
    page.fill("#id_max_steps", "3")
    page.click("summary:has-text('build a fresh feedback snapshot')")
    assert page.input_value("#id_snapshot-dataset") == "demo/tiny-feedback"
    page.click("#build-snapshot")

    # The page follows the build in the worker, then reloads with the snapshot's commit in the form.
    page.wait_for_selector("#snapshot-status:has-text('is built')", timeout=60_000)
    snapshot = FeedbackSnapshot.objects.get()
    assert snapshot.status == "done" and snapshot.ratings_used == 12
    assert page.input_value("#id_dataset") == "demo/tiny-feedback"
    assert page.input_value("#id_dataset_revision") == snapshot.commit.oid
    assert page.input_value("#id_max_steps") == "3"  # carried over while the snapshot built
    assert wait_for(lambda: dataset_validation_for(snapshot.commit).status == "valid", timeout=60)
    page.click("button[name=check]")
    page.wait_for_selector("#run-plan:has-text('Estimated time')")
    assert f"demo/tiny-feedback@{snapshot.commit.short_oid}" in page.inner_text("#run-plan")
    assert page.evaluate("window.__cspViolations") == []
    assert not TrainingRun.objects.exists()
