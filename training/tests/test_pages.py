"""The staff pages of training: who may see them, the start form's check and start, the run page's live panel
(polling that stops when the run is over), cancel and promote without JavaScript, a model's promotions."""

from __future__ import annotations

import pytest

from conftest import client_for
from inference.tests.conftest import make_model_repo
from training.models import Promotion, TrainingRun
from training.tests.datasets import make_dataset_repo, sft_row, simple_sft_files, snapshot_files
from training.tests.runs import head_of, make_model_and_dataset, make_run, safetensors_bytes

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def run(staff):
    model, dataset = make_model_and_dataset(staff)
    return make_run(model=model, dataset=dataset, user=staff, status="running", step=3, total_steps=10)


def form_data(**overrides) -> dict:
    data = {
        "base_model": "staffer/tiny",
        "revision": "main",
        "dataset": "staffer/feedback",
        "dataset_revision": "main",
        "method": "sft",
        "max_steps": "4",
        "num_train_epochs": "1",
        "learning_rate": "",
        "per_device_train_batch_size": "2",
        "gradient_accumulation_steps": "1",
        "max_length": "64",
        "seed": "7",
    }
    return {**data, **overrides}


def test_anonymous_visitors_are_sent_to_log_in(run):
    client = client_for(None)
    for url in ("/training/runs", "/training/runs/new", f"/training/runs/{run.pk}"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url
    for url in (f"/training/runs/{run.pk}/cancel", f"/training/runs/{run.pk}/promote", "/training/runs/new/check"):
        assert client.post(url).status_code == 302, url
    assert TrainingRun.objects.get().cancel_requested is False


def test_people_who_are_not_staff_get_403_even_on_their_own_model(alice):
    model, dataset = make_model_and_dataset(alice)
    run = make_run(model=model, dataset=dataset, user=alice, status="succeeded")
    client = client_for(alice)
    for url in ("/training/runs", "/training/runs/new", f"/training/runs/{run.pk}"):
        assert client.get(url).status_code == 403, url
    for url in (f"/training/runs/{run.pk}/cancel", f"/training/runs/{run.pk}/promote", "/training/runs/new/check"):
        assert client.post(url, {"reason": "mine"}).status_code == 403, url
    assert client.post(f"{model.get_absolute_url()}/promotions/rollback", {"commit": "x"}).status_code == 403
    assert head_of(model) == run.base_commit and not Promotion.objects.exists()


def test_a_run_of_a_private_model_is_404_to_staff_who_cannot_see_the_model(staff, alice):
    model, dataset = make_model_and_dataset(alice)
    model.private = True
    model.save(update_fields=["private"])
    run = make_run(model=model, dataset=dataset, user=alice, status="running")
    assert client_for(staff).get(f"/training/runs/{run.pk}").status_code == 404


def test_the_run_page_shows_progress_and_polls_while_running(staff, run):
    run.history = [
        {"step": 1, "loss": 3.5, "learning_rate": 0.001, "tokens_per_second": 2100.0, "epoch": 0.1, "elapsed": 1.0},
        {
            "step": 3,
            "loss": 2.75,
            "eval_loss": 2.9,
            "learning_rate": 0.0009,
            "tokens_per_second": 2300.0,
            "elapsed": 3.0,
        },
    ]
    run.device, run.log_tail = "cpu", ["step 3: loss 2.75", "<b>not bold</b>"]
    run.save()
    client = client_for(staff)

    page = client.get(f"/training/runs/{run.pk}").content.decode()
    assert '<progress id="run-progress" value="3" max="10"' in page
    assert 'hx-trigger="every 2000ms"' in page and "chart.umd.min.js" in page and "training.js" in page
    assert '<span id="run-eta">7 s</span>' in page  # 7 steps left at 1 s a step, by the job's own clock
    assert '<dd id="run-loss">2.75</dd>' in page and '<dd id="run-eval-loss">2.9</dd>' in page
    assert '<dd id="run-tps">2,300</dd>' in page and '<dd id="run-device">cpu</dd>' in page
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page
    assert "&quot;train&quot;: [[1, 3.5], [3, 2.75]], &quot;validation&quot;: [[3, 2.9]]" in page
    assert 'id="cancel-run"' in page and "<script>" not in page

    fragment = client.get(f"/training/runs/{run.pk}", **HTMX).content.decode()
    assert fragment.lstrip().startswith('<section id="run-live"') and "<html" not in fragment
    assert 'hx-trigger="every 2000ms"' in fragment


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled"])
def test_polling_stops_when_the_run_is_over(staff, status):
    model, dataset = make_model_and_dataset(staff)
    run = make_run(model=model, dataset=dataset, user=staff, status=status, error="boom" if status == "failed" else "")
    fragment = client_for(staff).get(f"/training/runs/{run.pk}", **HTMX).content.decode()
    assert f'data-status="{status}"' in fragment
    assert "hx-trigger" not in fragment and "hx-get" not in fragment and 'id="cancel-run"' not in fragment
    assert ('id="promote-form"' in fragment) == (status == "succeeded")


def test_the_page_of_a_succeeded_run_links_both_ways_and_compares_with_the_parent(staff):
    model, dataset = make_model_and_dataset(staff)
    run = make_run(model=model, dataset=dataset, user=staff)
    run.samples = [{"prompt": "Once", "parent": " upon <i>a</i>", "child": " upon a time"}]
    run.save(update_fields=["samples"])
    page = client_for(staff).get(f"/training/runs/{run.pk}").content.decode()
    base = model.get_absolute_url()
    assert f'href="{base}/tree/run-{run.pk}" class="mono" id="output-branch"' in page
    assert f'href="{base}/commit/{run.output_commit.oid}" class="mono" id="output-commit"' in page
    assert f'href="{base}/commit/{run.base_commit.oid}"' in page
    assert f'href="/datasets/staffer/feedback/commit/{run.dataset_commit.oid}"' in page
    assert '<th scope="row">eval_loss</th><td class="num">3.2</td><td class="num">2.1</td>' in page
    assert " upon &lt;i&gt;a&lt;/i&gt;" in page and " upon a time" in page


def test_cancel_without_javascript_redirects_and_with_htmx_answers_the_panel(staff, run):
    client = client_for(staff)
    response = client.post(f"/training/runs/{run.pk}/cancel")
    assert response.status_code == 302 and response["Location"] == f"/training/runs/{run.pk}"
    run.refresh_from_db()
    assert run.cancel_requested and run.status == "running"  # the job stops at its next step
    assert "Cancelling run-" in client.get(response["Location"]).content.decode()

    again = client.post(f"/training/runs/{run.pk}/cancel", **HTMX).content.decode()
    assert again.lstrip().startswith('<section id="run-live"') and "cancelling at the next step" in again
    assert 'id="cancel-run"' not in again


def test_promote_from_the_run_page(staff):
    model, dataset = make_model_and_dataset(staff)
    run = make_run(model=model, dataset=dataset, user=staff)
    client = client_for(staff)
    response = client.post(f"/training/runs/{run.pk}/promote", {"reason": "<script>alert(1)</script> better"})
    assert response.status_code == 302
    assert head_of(model) == run.output_commit
    page = client.get(response["Location"]).content.decode()
    assert page.count("Promoted run-") == 1 and "fast-forward" in page
    assert 'id="run-on-main"' in page and 'id="promote-form"' not in page  # nothing left to promote
    assert "&lt;script&gt;alert(1)&lt;/script&gt; better" in page and "<script>alert" not in page


def test_promoting_a_failed_run_from_the_page_says_why_and_changes_nothing(staff):
    model, dataset = make_model_and_dataset(staff)
    run = make_run(model=model, dataset=dataset, user=staff, status="failed")
    client = client_for(staff)
    response = client.post(f"/training/runs/{run.pk}/promote", {"reason": "try"}, follow=True)
    assert "only a run that succeeded can be promoted" in response.content.decode()
    assert head_of(model) == run.base_commit and not Promotion.objects.exists()


def test_the_start_form_checks_the_run_then_starts_it(staff, tiny_model_files):
    make_model_repo(owner=staff, files=tiny_model_files)
    make_dataset_repo(owner=staff, files=simple_sft_files(rows=12))
    client = client_for(staff)

    checked = client.post("/training/runs/new/check", form_data()).content.decode()
    assert "Ready." in checked and "12 training rows" in checked and "Estimated time: About" in checked

    page = client.post("/training/runs/new", {**form_data(), "check": "1"})
    assert page.status_code == 200 and "Estimated time" in page.content.decode()
    assert "{#" not in page.content.decode() and "{%" not in page.content.decode()
    assert not TrainingRun.objects.exists()  # checking starts nothing

    response = client.post("/training/runs/new", {**form_data(), "start": "1"})
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/training/runs/{run.pk}"
    assert (run.status, run.method, run.created_by) == ("queued", "sft", staff)
    assert run.hyperparameters["max_steps"] == 4 and run.hyperparameters["seed"] == 7
    assert run.hyperparameters["learning_rate"] == 2e-5  # the method's default for an empty field


def test_the_start_form_shows_each_refusal_with_its_reason(staff, tiny_model_files):
    make_model_repo(owner=staff, files=tiny_model_files)
    train = [sft_row(f"p{i}", " c") for i in range(3)]
    make_dataset_repo(owner=staff, files=snapshot_files(config="sft", train=train, validation=train[:1]))
    client = client_for(staff)

    few = client.post("/training/runs/new", {**form_data(), "start": "1"})
    assert few.status_code == 400 and "Too few rows to train on" in few.content.decode()
    wrong = client.post("/training/runs/new/check", form_data(method="dpo")).content.decode()
    assert "Not ready to start" in wrong and "preference" in wrong
    hostile = client.post("/training/runs/new/check", form_data(base_model="<img src=x>/x", max_steps="-5"))
    text = hostile.content.decode()
    assert "No model named &lt;img src=x&gt;/x" in text and "<img src=x>" not in text
    assert "greater than or equal to 0" in text
    assert not TrainingRun.objects.exists()


def test_the_model_card_panel_and_page_list_promotions_and_staff_roll_back(staff, alice):
    model, dataset = make_model_and_dataset(staff)
    base = model.get_absolute_url()
    assert client_for(alice).get(f"{base}/promotions/panel").content.decode().strip() == ""  # never promoted
    staff_panel = client_for(staff).get(f"{base}/promotions/panel").content.decode()
    assert 'href="/training/runs/new?base=staffer%2Ftiny" id="retrain-link"' in staff_panel
    run = make_run(model=model, dataset=dataset, user=staff)
    client = client_for(staff)
    client.post(f"/training/runs/{run.pk}/promote", {"reason": "lower loss"})

    panel = client_for(alice).get(f"{base}/promotions/panel").content.decode()
    assert "Promotion" in panel and "lower loss" in panel and f"/training/runs/{run.pk}" in panel
    listing = client_for(alice).get(f"{base}/promotions").content.decode()
    assert "lower loss" in listing and "eval_loss 3.2 → 2.1" in listing and "rollback-form" not in listing
    assert 'hx-get="/staffer/tiny/promotions/panel"' in client_for(alice).get(base).content.decode()

    response = client.post(f"{base}/promotions/rollback", {"commit": run.base_commit.oid, "reason": "raters object"})
    assert response.status_code == 302
    assert Promotion.objects.first().kind == "rollback"
    listing = client.get(f"{base}/promotions").content.decode()
    assert "Rolled back" in listing and "raters object" in listing and "rollback-form" in listing
    refused = client.post(f"{base}/promotions/rollback", {"commit": run.base_commit.oid, "reason": ""}, follow=True)
    assert "Say why" in refused.content.decode() and Promotion.objects.count() == 2
    nul = client.post(f"{base}/promotions/rollback", {"commit": run.base_commit.oid, "reason": "a\x00b"}, follow=True)
    assert "NUL character" in nul.content.decode() and Promotion.objects.count() == 2
    assert client.post(f"{base}/promotions/rollback", {"commit": "\x00" * 40, "reason": "r"}).status_code == 404


def snapshot_fields(dataset: str = "staffer/tiny-feedback") -> dict:
    fields = {"dataset": dataset, "private": "on", "thumbs": "any", "validation_fraction": "0.5"}
    for name in ("exclude_hidden_raters", "include_maintainers", "include_liked", "include_corrections"):
        fields[name] = "on"
    return {f"snapshot-{name}": value for name, value in fields.items()}


def test_build_a_fresh_snapshot_from_the_start_form_then_train_on_its_commit(staff, bob):
    from feedback.snapshots.models import FeedbackSnapshot
    from feedback.snapshots.services import snapshot_build
    from feedback.tests.test_snapshots import make_generation, rate

    model, _ = make_model_and_dataset(staff)
    for i in range(4):
        generation = make_generation(repo=model, commit=head_of(model), prompt=f"Once {i}", text=" a cat")
        rate(generation, bob, thumb="up")
    client = client_for(staff)

    response = client.post("/training/runs/new", {**form_data(dataset=""), **snapshot_fields(), "build_snapshot": "1"})
    snapshot = FeedbackSnapshot.objects.get()
    assert response.status_code == 302
    assert response["Location"].startswith(f"/training/runs/new?base=staffer%2Ftiny&snapshot={snapshot.pk}&")
    assert "max_steps=4" in response["Location"] and not TrainingRun.objects.exists()
    waiting = client.get(response["Location"]).content.decode()
    assert f"Building snapshot {snapshot.pk}" in waiting
    assert f'hx-get="/training/snapshots/{snapshot.pk}/status" hx-trigger="every 1000ms"' in waiting

    snapshot_build(snapshot_id=snapshot.pk)  # what the worker does
    status = client.get(f"/training/snapshots/{snapshot.pk}/status", **HTMX)
    assert status["HX-Refresh"] == "true" and "hx-trigger" not in status.content.decode()
    snapshot.refresh_from_db()
    page = client.get(response["Location"]).content.decode()
    assert f"Snapshot {snapshot.pk} is built" in page
    assert 'value="staffer/tiny-feedback"' in page and f'value="{snapshot.commit.oid}"' in page
    assert 'name="max_steps" value="4"' in page


def test_a_snapshot_the_form_cannot_build_says_why(staff):
    make_model_and_dataset(staff)  # no ratings at all
    client = client_for(staff)
    response = client.post("/training/runs/new", {**form_data(), **snapshot_fields(), "build_snapshot": "1"})
    assert response.status_code == 400 and "No ratings of staffer/tiny match these filters" in response.content.decode()
    response = client.post(
        "/training/runs/new", {**form_data(base_model=""), **snapshot_fields(), "build_snapshot": "1"}
    )
    assert response.status_code == 400 and "Name the model" in response.content.decode()
    other = client_for(staff).get("/training/runs/new?snapshot=999&base=%3Cb%3E").content.decode()
    assert "Building snapshot" not in other and 'value="&lt;b&gt;"' in other


@pytest.mark.parametrize("runs", [2, 6])
def test_list_pages_take_a_bounded_number_of_queries(staff, bob, runs, django_assert_max_num_queries):
    from feedback.snapshots import services as snapshots
    from feedback.tests.test_snapshots import make_generation, rate
    from training.promotions import training_run_promote

    model, _ = make_model_and_dataset(staff)
    rate(make_generation(repo=model, commit=head_of(model), prompt="Once", text=" a cat"), bob, thumb="up")
    snapshot = snapshots.snapshot_request(user=staff, model=model, dataset_id="staffer/tiny-feedback", filters={})
    snapshots.snapshot_build(snapshot_id=snapshot.pk)
    snapshot.refresh_from_db()
    for i in range(runs):
        run = make_run(model=model, dataset=snapshot.dataset, user=staff, weights=safetensors_bytes(f"w{i}".encode()))
        training_run_promote(run=run, user=staff, reason=f"round {i}")
    staff_client, bob_client, base = client_for(staff), client_for(bob), model.get_absolute_url()
    for client, url, bound in (
        (staff_client, "/training/runs", 4),
        (staff_client, f"{base}/promotions", 4),
        (bob_client, f"{base}/promotions/panel", 4),
        (bob_client, "/training/contributions", 6),
    ):
        with django_assert_max_num_queries(bound):
            assert client.get(url).status_code == 200
    text = " ".join(client_for(bob).get("/training/contributions").content.decode().split())
    assert text.count("promoted on") == runs


def test_unknown_and_absurd_ids_are_404(staff):
    client = client_for(staff)
    for url in (
        "/training/runs/999",
        "/training/runs/99999999999999999999999",
        "/training/snapshots/10000000000000000000000/status",
    ):
        assert client.get(url).status_code == 404, url
    for url in ("/training/runs/99999999999999999999999/promote", "/training/runs/99999999999999999999999/cancel"):
        assert client.post(url, {"reason": "x"}).status_code == 404, url
    big = "/api/v1/training-runs/99999999999999999999999/promote"
    assert client.post(big, '{"reason": "x"}', content_type="application/json").status_code == 404
