"""Traces shipped inside the package (``twin/data/traces``), loadable by name.

The files are byte-for-byte copies of the public Azure LLM inference trace 2023
(CC-BY-4.0); ``twin/data/traces/ATTRIBUTION.md`` carries the required credit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from twin.errors import UnknownName

# Located from this file, never an absolute path, so an installed package works too.
DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "traces"


@dataclass(frozen=True)
class BuiltinTrace:
    """One shipped trace: its file under ``twin/data/traces`` and its format preset."""

    filename: str
    fmt: str
    description: str

    @property
    def path(self) -> Path:
        return DATA_DIR / self.filename


BUILTIN_TRACES: Mapping[str, BuiltinTrace] = MappingProxyType({
    "azure-conv-2023": BuiltinTrace(
        "AzureLLMInferenceTrace_conv.csv", "azure2023",
        "Azure LLM inference 2023, conversation: 19,366 requests over ~1 h (Splitwise, ISCA'24)"),
    "azure-code-2023": BuiltinTrace(
        "AzureLLMInferenceTrace_code.csv", "azure2023",
        "Azure LLM inference 2023, code: 8,819 requests over ~1 h, very bursty (Splitwise, ISCA'24)"),
})


def builtin_trace(name: str) -> BuiltinTrace:
    """The built-in trace ``name``; UnknownName lists the built-ins."""
    if name not in BUILTIN_TRACES:
        raise UnknownName("built-in trace", name, list(BUILTIN_TRACES))
    return BUILTIN_TRACES[name]
