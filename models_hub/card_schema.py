"""The card metadata fields the public hub knows, checked the way it checks them.

Messages follow the hub's wording ('"model-index[0].results" must be an array'), so a card
refused here reads like one refused there. Unknown fields pass: cards carry anything else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError

from accounts.validators import validate_hub_name

Check = Callable[[Any, str], list[str]]


def is_repo_id(value: object, *, owner_required: bool = True) -> bool:
    """Whether `value` is a repository id: `owner/name`, or a bare legacy `name` when allowed."""
    if not isinstance(value, str):
        return False
    parts = value.split("/")
    if len(parts) > 2 or (owner_required and len(parts) != 2):
        return False
    try:
        for part in parts:
            validate_hub_name(part)
    except ValidationError:
        return False
    return True


def _text(value: Any, where: str) -> list[str]:
    return [] if isinstance(value, str) else [f'"{where}" must be a string']


def _text_or_number(value: Any, where: str) -> list[str]:
    ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
    return [] if ok else [f'"{where}" must be a string']


def _boolean(value: Any, where: str) -> list[str]:
    return [] if isinstance(value, bool) else [f'"{where}" must be a boolean']


def _mapping(value: Any, where: str) -> list[str]:
    return [] if isinstance(value, dict) else [f'"{where}" must be an object']


def _list_of(item: Check) -> Check:
    def check(value: Any, where: str) -> list[str]:
        if not isinstance(value, list):
            return [f'"{where}" must be an array']
        return [error for i, entry in enumerate(value) for error in item(entry, f"{where}[{i}]")]

    return check


def _one_or_list_of(item: Check) -> Check:
    listed = _list_of(item)

    def check(value: Any, where: str) -> list[str]:
        if isinstance(value, list):
            return listed(value, where)
        if isinstance(value, (dict, bool)):
            return [f'"{where}" must be a string or an array of strings']
        return item(value, where)

    return check


def _either(*checks: Check, expected: str) -> Check:
    def check(value: Any, where: str) -> list[str]:
        return [] if any(not c(value, where) for c in checks) else [f'"{where}" must be {expected}']

    return check


def _model_id(value: Any, where: str) -> list[str]:
    if is_repo_id(value, owner_required=False):
        return []
    return [f'"{where}" with value {str(value)[:200]!r} is not valid: use a model id such as "owner/name"']


def _object(required: dict[str, Check], optional: dict[str, Check] | None = None) -> Check:
    """A mapping whose `required` keys must be present, each key checked when present."""
    optional = optional or {}

    def check(value: Any, where: str) -> list[str]:
        if not isinstance(value, dict):
            return [f'"{where}" must be an object']
        errors = [f'"{where}.{key}" is required' for key in required if value.get(key) is None]
        for key, field_check in {**required, **optional}.items():
            if value.get(key) is not None:
                errors += field_check(value[key], f"{where}.{key}")
        return errors

    return check


_METRIC = _object(
    {"type": _text, "value": lambda value, where: []},
    {"name": _text, "config": _text, "args": lambda v, w: [], "verified": _boolean, "verifyToken": _text},
)
_RESULT = _object(
    {
        "task": _object({"type": _text}, {"name": _text}),
        "dataset": _object(
            {"type": _text, "name": _text},
            {"config": _text, "split": _text, "revision": _text, "args": lambda v, w: []},
        ),
        "metrics": _list_of(_METRIC),
    },
    {"source": _object({"url": _text}, {"name": _text})},
)
_MODEL_INDEX = _list_of(_object({"name": _text, "results": _list_of(_RESULT)}))

_texts = _one_or_list_of(_text_or_number)

COMMON_FIELDS: dict[str, Check] = {
    "language": _texts,
    "license_name": _text,
    "license_link": _text,
    "tags": _list_of(_text_or_number),
    "thumbnail": _text,
    "pretty_name": _text,
}
MODEL_FIELDS: dict[str, Check] = {
    **COMMON_FIELDS,
    "license": _text,
    "library_name": _text,
    "pipeline_tag": _text,
    "base_model": _one_or_list_of(_model_id),
    "base_model_relation": _text,
    "datasets": _texts,
    "metrics": _texts,
    "model_name": _text,
    "new_version": _model_id,
    "model-index": _MODEL_INDEX,
    "inference": _either(_boolean, _mapping, expected="a boolean or an object"),
    "widget": _list_of(_mapping),
}
DATASET_FIELDS: dict[str, Check] = {
    **COMMON_FIELDS,
    "license": _texts,
    "annotations_creators": _texts,
    "language_creators": _texts,
    "multilinguality": _texts,
    "size_categories": _texts,
    "source_datasets": _texts,
    "task_categories": _texts,
    "task_ids": _texts,
    "paperswithcode_id": _text,
    "configs": _list_of(_object({"config_name": _text})),
    "dataset_info": _either(_mapping, _list_of(_mapping), expected="an object or an array of objects"),
}


def metadata_errors(metadata: dict[str, Any], *, kind: str) -> list[str]:
    """What is wrong with the known fields of `metadata` for a repository of `kind` ('model', 'dataset')."""
    fields = DATASET_FIELDS if kind == "dataset" else MODEL_FIELDS
    errors: list[str] = []
    for key, check in fields.items():
        # An empty field ("license:") reads as null: the hub leaves it out, and so does Flywheel.
        if metadata.get(key) is not None:
            errors += check(metadata[key], key)
    return errors
