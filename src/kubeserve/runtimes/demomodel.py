"""`kubeserve demo-model DIR`: a small Llama-architecture model built here, with no downloads.

Tests and the demo need a model that vLLM and the Hugging Face runtime really load, and nothing can be
fetched from a hub on this machine. So we train a byte-level BPE tokenizer (about 2k tokens, `<unk>`, `<s>`,
`</s>`) on the Python standard library's own sources, give it a chat template (so `/v1/chat/completions`
works), and save a randomly initialised `LlamaForCausalLM` (hidden 256, intermediate 512, 2 layers, 4 heads
of 64 — vLLM's CPU attention rejects heads of 16 — 2 KV heads, 4096 positions, since the guide's GPU
examples ask for `--max-model-len=4096`) as fp32 safetensors. The same seed gives byte-identical files. Its
text is random, which is all serving tests need.

Building needs torch, transformers and tokenizers, which are not kubeserve's dependencies: the build runs
as a script in the vLLM environment's interpreter (see `vllm_env.vllm_venv` for where that is), which has
them all. About 10 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from kubeserve.runtimes.vllm_env import VllmNotInstalled, venv_python, vllm_venv

# Run by the vLLM environment's python as `python -c BUILD_SCRIPT DEST SEED`; kept as text because
# kubeserve's own interpreter has none of these imports.
BUILD_SCRIPT = r'''
import json, os, random, sys
from pathlib import Path

dest, seed = Path(sys.argv[1]), int(sys.argv[2])
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

random.seed(seed)
torch.manual_seed(seed)
stdlib = Path(os.__file__).parent
files = sorted(p for p in stdlib.glob("*.py"))[:120]
corpus = [p.read_text(encoding="utf-8", errors="replace") for p in files]

special = ["<unk>", "<s>", "</s>"]
tok = Tokenizer(models.BPE(unk_token="<unk>"))
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
tok.post_processor = processors.ByteLevel(trim_offsets=False)
trainer = trainers.BpeTrainer(vocab_size=2048, special_tokens=special, show_progress=False,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
tok.train_from_iterator(corpus, trainer=trainer)

chat_template = (
    "{% for message in messages %}<s>{{ message['role'] }}\n{{ message['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant\n{% endif %}")
fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                               pad_token="</s>", model_max_length=4096, chat_template=chat_template)
dest.mkdir(parents=True, exist_ok=True)
fast.save_pretrained(str(dest))
# Older transformers (4.x, e.g. in a Hugging Face runtime's own environment) know neither transformers 5's
# class name nor chat_template.jinja: name the portable class and carry the template in the config too.
tok_config_path = dest / "tokenizer_config.json"
tok_config = json.loads(tok_config_path.read_text())
tok_config.update(tokenizer_class="PreTrainedTokenizerFast", chat_template=chat_template)
tok_config_path.write_text(json.dumps(tok_config, indent=2, sort_keys=True) + "\n")

vocab = tok.get_vocab_size()
config = LlamaConfig(vocab_size=vocab, hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, head_dim=64, max_position_embeddings=4096,
                     bos_token_id=tok.token_to_id("<s>"), eos_token_id=tok.token_to_id("</s>"),
                     pad_token_id=tok.token_to_id("</s>"), tie_word_embeddings=False, torch_dtype="float32")
model = LlamaForCausalLM(config).to(torch.float32)
model.save_pretrained(str(dest), safe_serialization=True)
for path in dest.iterdir():
    path.chmod(0o644)  # readable by a runtime running as another user
print(json.dumps({"vocab": vocab, "parameters": sum(p.numel() for p in model.parameters())}))
'''


class DemoModelError(Exception):
    """The model could not be built: no vLLM environment, or the build script failed (message says why)."""


def build_demo_model(dest: Path, *, seed: int = 0, environ: Mapping[str, str] | None = None) -> Path:
    """Writes the demo model into `dest` (created if missing) and returns it; raises DemoModelError."""
    env = dict(os.environ if environ is None else environ)
    try:
        python = venv_python(vllm_venv(env))
    except VllmNotInstalled as err:
        raise DemoModelError(f"cannot build the demo model: {err}") from err
    dest = dest.expanduser().resolve()
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    # transformers would otherwise look for a hub cache and telemetry; nothing may be downloaded here.
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    result = subprocess.run([str(python), "-c", BUILD_SCRIPT, str(dest), str(seed)], env=env,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
        raise DemoModelError(f"building the demo model with {python} failed (exit {result.returncode}):\n{tail}")
    if not (dest / "model.safetensors").exists():
        raise DemoModelError(f"building the demo model wrote no model.safetensors into {dest}")
    return dest


def main(argv: list[str]) -> int:
    """`python -m kubeserve.runtimes.demomodel DIR [SEED]`, for scripts without the CLI."""
    if not argv:
        print("usage: python -m kubeserve.runtimes.demomodel DIR [SEED]", file=sys.stderr)
        return 2
    try:
        path = build_demo_model(Path(argv[0]), seed=int(argv[1]) if len(argv) > 1 else 0)
    except DemoModelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"demo model written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
