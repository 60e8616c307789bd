"""The post-training formats TRL reads, recognised from a split's columns and their kinds."""

from __future__ import annotations

from models_hub.dataset_files.stats import BOOL, LIST, STRING

MESSAGES, PROMPT_COMPLETION, TEXT, PREFERENCE, KTO = "messages", "prompt_completion", "text", "preference", "kto"
# Most specific first: a KTO split also has prompt/completion, a preference split may carry messages.
FORMAT_LABELS = {
    PREFERENCE: "Preference (prompt / chosen / rejected)",
    KTO: "KTO (prompt / completion / label)",
    MESSAGES: "Chat (messages)",
    PROMPT_COMPLETION: "Prompt / completion",
    TEXT: "Text",
}


def is_conversation(nested_type: str) -> bool:
    """Whether an Arrow list type holds chat turns: objects with a role and a content."""
    return (
        nested_type.startswith("list<")
        and "struct<" in nested_type
        and "role:" in nested_type
        and "content:" in nested_type
    )


def training_formats(kinds: dict[str, str], nested_types: dict[str, str] | None = None) -> list[str]:
    """Every format the columns (name → kind; lists' Arrow types when known) fit, most specific first."""
    nested_types = nested_types or {}

    def has(name: str, allowed: set[str]) -> bool:
        if kinds.get(name) not in allowed:
            return False
        nested = nested_types.get(name)  # None: not known, taken on trust
        return kinds[name] != LIST or nested is None or is_conversation(nested)

    texty = {STRING, LIST}  # a prompt or completion may be text or a conversation

    found = []
    if has("chosen", texty) and has("rejected", texty):
        found.append(PREFERENCE)
    if has("prompt", texty) and has("completion", texty) and has("label", {BOOL}):
        found.append(KTO)
    if has("messages", {LIST}):
        found.append(MESSAGES)
    if has("prompt", texty) and has("completion", texty):
        found.append(PROMPT_COMPLETION)
    if has("text", {STRING}):
        found.append(TEXT)
    return found
