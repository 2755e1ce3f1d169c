"""Generation with transformers for bench/gpu_server.py: a causal LM on one torch device,
whole answers in a worker thread, or token by token into the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

_END = object()  # the streamer's end of generation, as a queue item


class _QueueStreamer:
    """A transformers streamer (put/end) that hands each new token to an asyncio queue.
    generate() first puts the prompt's ids: they are skipped."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        self.loop, self.queue, self.prompt_seen = loop, queue, False

    def put(self, value) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.loop.call_soon_threadsafe(self.queue.put_nowait, token)

    def end(self) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, _END)


@dataclass
class Generator:
    """A model and its tokenizer on `device` (greedy decoding: the same answer every time)."""

    model: Any
    tokenizer: Any
    device: str

    @classmethod
    def load(cls, path: str, device: str | None = None) -> Generator:
        """Load the model directory `path` (offline: no hub) onto `device` (default: cuda
        when torch sees a GPU, else cpu)."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from serving.model_dir import offline

        offline()
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = AutoModelForCausalLM.from_pretrained(path).to(device).eval()
        return cls(model, AutoTokenizer.from_pretrained(path), device)

    def encode(self, prompt: Any, chat: bool) -> list[int]:
        """Token ids of a chat's messages (through the chat template) or of a prompt string."""
        if chat:
            if not isinstance(prompt, list) or not prompt:
                raise ValueError("messages must be a non-empty list")
            text = self.tokenizer.apply_chat_template(
                prompt, tokenize=False, add_generation_prompt=True
            )
        elif isinstance(prompt, str):
            text = prompt
        else:
            raise ValueError("prompt must be a string")
        return list(self.tokenizer(text)["input_ids"])

    def decode(self, ids: list[int]) -> str:
        """The text of generated ids."""
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def generate(self, ids: list[int], max_tokens: int, exact: bool, streamer=None) -> list[int]:
        """The generated ids (blocking; call from a thread). `exact`: never stop at EOS."""
        import torch

        inputs = torch.tensor([ids], device=self.device)
        with torch.inference_mode():
            out = self.model.generate(
                inputs,
                attention_mask=torch.ones_like(inputs),
                max_new_tokens=max_tokens,
                min_new_tokens=max_tokens if exact else None,
                do_sample=False,
                streamer=streamer,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        return out[0, len(ids) :].tolist()

    async def stream(self, ids: list[int], max_tokens: int, exact: bool) -> AsyncIterator[int]:
        """Each generated token as it comes (generation runs on its own thread)."""
        queue: asyncio.Queue = asyncio.Queue()
        streamer = _QueueStreamer(asyncio.get_running_loop(), queue)
        worker = threading.Thread(
            target=self._generate_then_end, args=(ids, max_tokens, exact, streamer), daemon=True
        )
        worker.start()
        while (token := await queue.get()) is not _END:
            yield token
        worker.join()

    def _generate_then_end(self, ids, max_tokens, exact, streamer) -> None:
        try:
            self.generate(ids, max_tokens, exact, streamer)  # generate() calls end() itself
        except BaseException:
            streamer.end()  # the waiting request must not hang on a failed generation
            raise
