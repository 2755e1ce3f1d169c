"""Every string of a request body that vLLM renders into the prompt, as rewritable slots.

A chat template sees far more than the messages' `content` (vLLM 0.32:
`ChatCompletionRequest.build_chat_params` and `renderers/chat_utils.py`): every text field
of a message (content, its text / thinking / refusal parts and their extra fields, `name`,
`reasoning`, tool calls' ids, names and arguments, `tool_call_id`, a developer message's
`tools`, a custom `role`); and at the top level `tools` (names, descriptions, parameter
schemas), `tool_choice` and `response_format` (rendered by some templates), `documents`
(RAG templates), `chat_template` itself and `chat_template_kwargs` (any value). Where
clients put free-form JSON (tools, schemas, documents, template kwargs) the keys are
rendered too (`tojson`), so they are slots as well. The completions API renders `prompt`
and `suffix` (FIM); embeddings take `input` or chat messages. Media (image, audio and
video URLs or data, embeddings) is not text to a template and is skipped.

A prompt no filter can read is reported (`Walk.unreadable`): completions' and embeddings'
token-id prompts (`[46, 2067]`, or lists of them), completions' `prompt_embeds`, and a
`prompt_embeds` content part in messages (vLLM takes a part as one when its type says so,
or, typeless, when it has a `prompt_embeds` key).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.record import OP_CHAT, OP_COMPLETION, OP_EMBEDDINGS

# Deeper than any tool schema or template input in practice; a body nesting further is
# reported (`Walk.too_deep`) rather than walked without end.
MAX_DEPTH = 64

_MEDIA_KEYS = frozenset(
    {
        "image_url",
        "audio_url",
        "video_url",
        "input_audio",
        "image_embeds",
        "audio_embeds",
        "video_embeds",
        "image_pil",
    }
)
# Standard values of `role` and `type` in messages and parts: no filter can match one, and
# leaving them out keeps captured prompt text what a person reads as the prompt.
_ENUM_WORDS = frozenset(
    {
        *("system", "user", "assistant", "tool", "developer", "function"),
        *("text", "input_text", "output_text", "thinking", "refusal", "tool_reference"),
        *("image_url", "input_image", "audio_url", "input_audio", "video_url", "image_pil"),
        *("image_embeds", "audio_embeds", "video_embeds", "prompt_embeds"),
    }
)
TOKEN_IDS, EMBEDDINGS = "token ids", "embeddings"
# Top-level chat fields holding free-form JSON (keys rendered too), in scan order.
_CHAT_JSON = ("tools", "tool_choice", "response_format", "documents", "chat_template_kwargs")


@dataclass(frozen=True, slots=True)
class Key:
    """Marks a slot that is a dict's key itself, not the value under it."""

    name: str


Slot = tuple[dict | list, object]  # (container, key or Key): container[key] is a str


class Walk:
    """The slots found in one body, in order, and whether some part was too deep to walk."""

    def __init__(self) -> None:
        self.slots: list[Slot] = []
        self.too_deep = False
        # (field, TOKEN_IDS or EMBEDDINGS): the first part of the prompt given as no text.
        self.unreadable: tuple[str, str] | None = None
        self._field = ""  # the top-level field being walked

    def field(
        self, body: dict, name: str, *, keys: bool = False, media: bool = False, ids: bool = False
    ) -> None:
        """Every string under `body[name]` (dict keys too with `keys`; media skipped and
        prompt-embeds parts reported with `media`; token ids reported with `ids`)."""
        if name not in body:
            return
        if ids and _token_ids(body[name]):
            self.report(name, TOKEN_IDS)
        self._field = name
        self._value(body, name, 0, keys, media)

    def report(self, name: str, kind: str) -> None:
        """Note that `name` holds (part of) the prompt as `kind`, no text: the first one wins."""
        if self.unreadable is None:
            self.unreadable = (name, kind)

    def _value(self, container, key, depth: int, keys: bool, media: bool) -> None:
        value = container[key]
        if isinstance(value, str):
            self.slots.append((container, key))
        elif not isinstance(value, dict | list) or not value:
            return
        elif depth >= MAX_DEPTH:
            self.too_deep = True
        elif isinstance(value, list):
            for i, item in enumerate(value):  # strings and scalars without a call each
                if isinstance(item, str):
                    self.slots.append((value, i))
                elif isinstance(item, dict | list):
                    self._value(value, i, depth + 1, keys, media)
        else:
            if media and ("prompt_embeds" in value or value.get("type") == "prompt_embeds"):
                self.report(self._field, EMBEDDINGS)
            for k in list(value):
                if media and _skipped(value, k):
                    continue
                self._value(value, k, depth + 1, keys, media)
                if keys and isinstance(k, str):  # after its value: a rename leaves it valid
                    self.slots.append((value, Key(k)))


def _skipped(d: dict, k: object) -> bool:
    """Media, a standard role or part type, or a prompt-embeds part's data."""
    if k in _MEDIA_KEYS:
        return True
    if k in ("role", "type"):
        return isinstance(d[k], str) and d[k] in _ENUM_WORDS
    return k == "data" and d.get("type") == "prompt_embeds"


def _token_ids(value: object) -> bool:
    """A prompt as token ids: a list holding numbers, or lists of numbers (vLLM refuses a
    list mixing them with strings)."""
    if not isinstance(value, list):
        return False
    return any(
        isinstance(x, int | float)
        or (isinstance(x, list) and any(isinstance(y, int | float) for y in x))
        for x in value
    )


def request_walk(body: dict, operation: str) -> Walk:
    """The slots of every string vLLM renders into the prompt for this request body."""
    w = Walk()
    if operation == OP_COMPLETION:
        w.field(body, "prompt", ids=True)
        w.field(body, "suffix")
        if body.get("prompt_embeds") not in (None, []):  # vLLM: null or [] is none
            w.report("prompt_embeds", EMBEDDINGS)
        return w
    if operation == OP_EMBEDDINGS:
        w.field(body, "input", media=True, ids=True)  # a string, strings, ids, or messages
    elif operation != OP_CHAT:
        return w
    w.field(body, "messages", media=True)
    for name in _CHAT_JSON:
        w.field(body, name, keys=True)
    w.field(body, "chat_template")
    return w


def read(slot: Slot) -> str:
    """The text in a slot."""
    container, key = slot
    # A slot's key indexes its own container (a str for a dict, an int for a list).
    return key.name if isinstance(key, Key) else container[key]  # type: ignore[call-overload]


def write(slot: Slot, text: str) -> None:
    """Replace the text in a slot; a key is renamed in place, keeping its position."""
    container, key = slot
    if not isinstance(key, Key):
        container[key] = text  # type: ignore[call-overload]  # as in `read`
        return
    d: dict = container  # type: ignore[assignment]
    if text == key.name or key.name not in d:
        return
    while text in d:  # two keys redacted alike must not merge into one
        text += "_"
    items = [(text if k == key.name else k, v) for k, v in d.items()]
    d.clear()
    d.update(items)
