"""The tracking snippet's source (snippet/t.js), read once per process."""

from functools import cache
from pathlib import Path


@cache
def source() -> str:
    return (Path(__file__).parent / "snippet" / "t.js").read_text()
