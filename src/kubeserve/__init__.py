"""kubeserve: the OpenShift AI / KServe LLM-serving guide as real software."""

__version__ = "0.1.0"
