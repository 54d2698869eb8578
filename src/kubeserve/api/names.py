"""Generated object names (`metadata.generateName`), as the apiserver makes them."""

from __future__ import annotations

import secrets

# The apiserver's alphabet for generated suffixes: no vowels (no words) and no look-alike characters.
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def generate_name_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
