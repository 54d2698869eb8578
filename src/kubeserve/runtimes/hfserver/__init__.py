"""A light OpenAI-compatible model server on transformers: kubeserve's `kserve/huggingfaceserver` runtime.

KServe's `kserve-huggingfaceserver` image serves Hugging Face models; kubeserve has no containers, so its image
catalog runs this package instead, with KServe's arguments unchanged (`--model_name`, `--model_dir`,
`--dtype`, `--max_length`, …, see `options.py`). It loads the model in `/mnt/models` with
`AutoModelForCausalLM` and answers OpenAI completions and chat, streaming or not (`app.py`), one generation at
a time (`engine.py`), on CUDA when there is a GPU, else on the CPU.

It runs in the model-server environment (torch, transformers, starlette, uvicorn; the vLLM environment has
them), not in kubeserve's own, so it imports nothing of kubeserve and only relative modules of its own:

    PYTHONPATH=<repo>/src <venv>/bin/python -m kubeserve.runtimes.hfserver --model_name=NAME --model_dir=DIR

The image catalog starts it as `<kubeserve's python> -m kubeserve.runtimes.hfserver ARGS`; finding no torch
there, it re-executes itself in that environment (`relaunch.py`). The pure modules (`options`, `parsing`,
`responses`, `metrics`) import neither torch nor the web stack, so kubeserve's unit tests exercise them.
"""
