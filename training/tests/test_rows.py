"""Which columns each trainer gets from a snapshot's rows (pure: no model, no database)."""

from __future__ import annotations

from training.tests.datasets import kto_row, preference_row, sft_row
from training.trainers.finetune import training_rows


def test_sft_keeps_prompt_and_completion_exactly_as_generated_and_drops_provenance():
    rows = [sft_row("Once upon a time", " there was a cat.")]
    assert training_rows(rows, "sft", has_chat_template=False) == [
        {"prompt": "Once upon a time", "completion": " there was a cat."}
    ]


def test_messages_only_rows_train_on_the_last_assistant_turn_with_a_chat_template_or_as_plain_text_without():
    messages = sft_row("Sky colour?", "Blue.")["messages"]
    assert training_rows([{"messages": messages}], "sft", has_chat_template=True) == [
        {"prompt": messages[:1], "completion": messages[1:]}
    ]
    assert training_rows([{"messages": messages}], "sft", has_chat_template=False) == [
        {"prompt": "user: Sky colour?\nassistant:", "completion": " Blue."}
    ]


def test_preference_and_kto_rows_keep_their_columns_with_boolean_labels():
    assert training_rows([preference_row("p", " a", " b")], "dpo", has_chat_template=False) == [
        {"prompt": "p", "chosen": " a", "rejected": " b"}
    ]
    assert training_rows([{**kto_row("p", " a", True), "label": 1}], "kto", has_chat_template=False) == [
        {"prompt": "p", "completion": " a", "label": True}
    ]
