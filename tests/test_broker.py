"""The embedded broker (filesystem://) publishes each message whole, so a fast-polling worker never reads half of one."""

from __future__ import annotations

import json

from kombu import Connection

from config.broker import AtomicFilesystemTransport


def test_a_message_appears_only_once_it_is_complete(tmp_path):
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path), "store_processed": False}
    with Connection("filesystem://", transport_options=options) as connection:
        assert isinstance(connection.transport, AtomicFilesystemTransport)
        channel = connection.default_channel
        # What a writer caught half-way leaves behind: the consumer must not take it.
        (tmp_path / ".1_x.jobs.msg.partial").write_bytes(b"")

        channel._put("jobs", {"body": "hello"})
        messages = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))

        assert len(messages) == 1 and messages[0].endswith(".jobs.msg")
        assert json.loads((tmp_path / messages[0]).read_text()) == {"body": "hello"}
        assert channel._get("jobs") == {"body": "hello"}
        assert (tmp_path / ".1_x.jobs.msg.partial").exists()


def test_the_beat_reaps_dead_generations_on_the_default_queue():
    from celery import current_app
    from django.conf import settings

    from config.celery_app import app

    assert settings.CELERY_BEAT_SCHEDULE["generations-reap"]["task"] == "inference.generations_reap"
    route = app.amqp.router.route({}, "inference.generations_reap")
    assert route["queue"].name == "default"
    assert current_app.amqp.router.route({}, "inference.generation_run")["queue"].name == "inference"
