"""Feedback snapshots: ratings curated into a versioned dataset revision (sft, preference and kto configs).

models (what was asked and what was used), filters (the asked filters, checked), build (the streaming
builder: ORM rows in, JSONL files out), card (the README), services (request and build), selectors, and
the surfaces: api, pages, admin, tasks.
"""
