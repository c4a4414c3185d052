"""Chat templates: the one place that decides how a base model without one sees a conversation."""

from __future__ import annotations

from typing import Any

# Base models get the messages joined by a space: "prompt completion". The
# server, the likelihood scorer and fine-tuning all use this same rendering.
PLAIN_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if not loop.first %} {% endif %}{{ message['content'] }}{% endfor %}"
)


def ensure_chat_template(tokenizer: Any) -> str:
    """Give `tokenizer` the plain template if it has none; return the text that joins a
    prompt and its continuation (`""` after a chat template's assistant header, `" "` otherwise)."""
    if getattr(tokenizer, "chat_template", None):
        return ""
    tokenizer.chat_template = PLAIN_CHAT_TEMPLATE
    return " "
