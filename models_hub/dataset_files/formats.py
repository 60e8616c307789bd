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


def training_formats(kinds: dict[str, str]) -> list[str]:
    """Every format the columns (name → kind) fit, most specific first."""
    texty = {STRING, LIST}  # a prompt or completion may be text or a conversation

    def has(name: str, allowed: set[str]) -> bool:
        return kinds.get(name) in allowed

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
