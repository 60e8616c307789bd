# Threads matter: huggingface_hub downloads 8 files at once and pipelines uploads.
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
threads = 8
timeout = 900  # commits of multi-GB files stream for minutes
accesslog = "-"
forwarded_allow_ips = "*"
