"""Two staff members promote the same run at the same moment: main moves once, one promotion is recorded, the
other is refused with a reason (never a 500, never two records)."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from models_hub.errors import Conflict
from training.models import Promotion
from training.promotions import training_run_promote
from training.tests.runs import head_of, make_model_and_dataset, make_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_simultaneous_promotions_move_main_once(staff):
    model, dataset = make_model_and_dataset(staff)
    run = make_run(model=model, dataset=dataset, user=staff)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def promote(reason: str) -> None:
        start.wait()
        try:
            training_run_promote(run=run, user=staff, reason=reason)
            outcomes.append("promoted")
        except Conflict as exc:
            outcomes.append(exc.message)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=promote, args=(f"reason {i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(outcomes) == 2 and outcomes.count("promoted") == 1, outcomes
    refusal = next(o for o in outcomes if o != "promoted")
    assert "main moved while" in refusal or "already holds" in refusal
    assert Promotion.objects.count() == 1 and head_of(model) == run.output_commit
