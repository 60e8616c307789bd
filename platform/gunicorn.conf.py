# Threads matter: huggingface_hub downloads 8 files at once and pipelines uploads.
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
threads = 8
# gthread, but request heads and small bodies are read without a thread, so slow clients cannot
# take them all; limits from FLYWHEEL_HEADER_TIMEOUT, FLYWHEEL_BODY_TIMEOUT, FLYWHEEL_MIN_UPLOAD_RATE
# and FLYWHEEL_SEND_TIMEOUT (see config/gunicorn_worker.py and the README).
worker_class = "config.gunicorn_worker.BufferingThreadWorker"
timeout = 900  # commits of multi-GB files stream for minutes
accesslog = "-"
# X-Forwarded-Proto is believed only from these proxies (Django reads the same list for X-Forwarded-For):
# set FLYWHEEL_TRUSTED_PROXIES=127.0.0.1 behind platform/nginx.conf on the same machine.
forwarded_allow_ips = os.environ.get("FLYWHEEL_TRUSTED_PROXIES", "")
