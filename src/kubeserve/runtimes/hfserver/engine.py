"""The model behind the server: transformers' `AutoModelForCausalLM.generate`, one request at a time.

transformers' `generate` is not safe to run concurrently on one model (and on 2 CPU cores it would not be
faster), so requests queue for a single generation thread: a one-worker executor is the queue, and the event
loop stays free to answer health checks and stream tokens. Streaming uses transformers'
`AsyncTextIteratorStreamer`; sampling, `top_p`/`top_k`, `stop_strings` and `min_new_tokens` (for vLLM's
`ignore_eos`) are `generate`'s own. A client that goes away cancels its generation between two tokens, so an
abandoned stream does not hold the queue.

Runs on CUDA when torch sees a GPU (the kubelet sets `CUDA_VISIBLE_DEVICES` from the pod's
`nvidia.com/gpu`), else on the CPU in float32.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch  # type: ignore[import-not-found, unused-ignore]
from transformers import (  # type: ignore[import-not-found, unused-ignore]
    AsyncTextIteratorStreamer,
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    StoppingCriteriaList,
)
from transformers.utils import logging as hf_logging  # type: ignore[import-not-found, unused-ignore]

from .options import Options, resolve_dtype
from .parsing import ApiError, Message, Sampling, bad, fallback_chat_prompt
from .responses import finish_reason, truncate_at_stop

FALLBACK_MAX_LEN = 2048


@dataclass(frozen=True)
class Prepared:
    input_ids: tuple[int, ...]
    max_new_tokens: int
    sampling: Sampling


@dataclass(frozen=True)
class Generated:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


class _Cancelled:
    """A stopping criterion that ends generation once the request's event is set (the client went away)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class Engine:
    def __init__(self, model: Any, tokenizer: Any, device: str, dtype: str, max_model_len: int) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.device, self.dtype, self.max_model_len = device, dtype, max_model_len
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")
        self.pending = 0  # submitted and not finished; changed on the event loop only
        self.busy = False  # set by the generation thread
        self.eos_ids = frozenset(_ids(model.generation_config.eos_token_id) | _ids(tokenizer.eos_token_id))
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.eos_ids, default=0)

    @classmethod
    def load(cls, options: Options) -> tuple[Engine, float]:
        """Loads the model and tokenizer; returns the engine and the seconds it took."""
        started = time.monotonic()
        hf_logging.disable_progress_bar()
        cuda = bool(torch.cuda.is_available())
        device, dtype = ("cuda" if cuda else "cpu"), resolve_dtype(options.dtype, cuda)
        source, trust = options.model_source, options.trust_remote_code
        config = AutoConfig.from_pretrained(source, trust_remote_code=trust)
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=getattr(torch, dtype), trust_remote_code=trust)
        model.to(device).eval()
        limit = options.max_model_len or getattr(config, "max_position_embeddings", None) or FALLBACK_MAX_LEN
        return cls(model, tokenizer, device, dtype, int(limit)), time.monotonic() - started

    def encode_prompt(self, prompt: str | tuple[int, ...]) -> tuple[int, ...]:
        if isinstance(prompt, str):
            return tuple(self.tokenizer(prompt)["input_ids"])
        vocab = len(self.tokenizer)
        if any(not 0 <= t < vocab for t in prompt):
            raise bad(f"token ids must be from 0 to {vocab - 1}", "prompt")
        return prompt

    def encode_chat(self, messages: tuple[Message, ...]) -> tuple[int, ...]:
        turns = [{"role": m.role, "content": m.content} for m in messages]
        if self.tokenizer.chat_template:
            try:
                text = self.tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=False)
            except Exception as exc:  # templates raise on roles or orders they do not accept
                raise bad(f"the model's chat template rejected the messages: {exc}", "messages") from exc
        else:
            text = fallback_chat_prompt(messages)
        # The template writes the special tokens (BOS) itself; adding them again would double them.
        return tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prepare(self, input_ids: tuple[int, ...], sampling: Sampling) -> Prepared:
        """Checks the request against the context length, as vLLM does, and fixes the token budget."""
        room = self.max_model_len - len(input_ids)
        wanted = sampling.max_tokens if sampling.max_tokens is not None else room
        if room < 1 or wanted > room:
            raise ApiError(400, f"This model's maximum context length is {self.max_model_len} tokens. However, you "
                           f"requested {len(input_ids) + wanted} tokens ({len(input_ids)} in the prompt, {wanted} "
                           "for the completion). Please reduce the prompt or max_tokens.",
                           code="context_length_exceeded", param="max_tokens")
        return Prepared(input_ids, wanted, sampling)

    async def generate(self, prepared: Prepared) -> Generated:
        cancel = threading.Event()
        try:
            return await self._submit(prepared, None, cancel)
        finally:
            cancel.set()

    async def stream(self, prepared: Prepared) -> AsyncGenerator[str | Generated, None]:
        """Yields text pieces as they are decoded, then the finished `Generated`."""
        streamer = AsyncTextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        cancel = threading.Event()
        future = self._submit(prepared, streamer, cancel)
        try:
            async for piece in streamer:
                if piece:
                    yield piece
            yield await future
        finally:
            cancel.set()

    def _submit(self, prepared: Prepared, streamer: Any, cancel: threading.Event) -> asyncio.Future[Generated]:
        future = asyncio.get_running_loop().run_in_executor(self.executor, self._run, prepared, streamer, cancel)
        self.pending += 1
        future.add_done_callback(self._finished)
        return future

    def _finished(self, future: asyncio.Future[Generated]) -> None:
        self.pending -= 1
        if not future.cancelled():
            future.exception()  # retrieved here so an abandoned stream's failure is not logged as unhandled

    def _run(self, prepared: Prepared, streamer: Any, cancel: threading.Event) -> Generated:
        ended = False
        try:
            if cancel.is_set():
                return Generated("", len(prepared.input_ids), 0, "stop")
            self.busy = True
            s = prepared.sampling
            if s.seed is not None:
                torch.manual_seed(s.seed)
            inputs = torch.tensor([prepared.input_ids], dtype=torch.long, device=self.device)
            kwargs: dict[str, Any] = {
                "input_ids": inputs, "attention_mask": torch.ones_like(inputs),
                "max_new_tokens": prepared.max_new_tokens, "pad_token_id": self.pad_id,
                "stopping_criteria": StoppingCriteriaList([_Cancelled(cancel)]), "streamer": streamer,
                "do_sample": not s.greedy,
                # None clears a sampling default from the model's generation_config when decoding greedily.
                "temperature": None if s.greedy else s.temperature, "top_p": None if s.greedy else s.top_p,
                "top_k": None if s.greedy else (s.top_k or 0),
            }
            if s.stop:
                kwargs.update(stop_strings=list(s.stop), tokenizer=self.tokenizer)
            if s.ignore_eos:
                kwargs["min_new_tokens"] = prepared.max_new_tokens
            with torch.inference_mode():
                output = self.model.generate(**kwargs)
            ended = True
            new = output[0, len(prepared.input_ids):].tolist()
            if new and new[-1] in self.eos_ids and not s.ignore_eos:
                new, eos = new[:-1], True
            else:
                eos = False
            text, hit = truncate_at_stop(self.tokenizer.decode(new, skip_special_tokens=True), s.stop)
            generated = len(new) + int(eos)
            reason = finish_reason(eos or hit, generated, prepared.max_new_tokens)
            return Generated(text, len(prepared.input_ids), generated, reason)
        finally:
            self.busy = False
            if streamer is not None and not ended:
                streamer.on_finalized_text("", stream_end=True)  # generate never ended it: wake the reader

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def _ids(value: int | list[int] | None) -> set[int]:
    return set() if value is None else {value} if isinstance(value, int) else set(value)
