"""Resource kinds, schemas, validation, patching, tables and selectors: pure code, no I/O.

Everyone may import this package; it imports nothing else of kubeserve.
"""
