"""Trace formats: which columns hold a request's arrival, lengths, session and prefix blocks.

A format is data (``FormatSpec``), not code: a kind (CSV or JSONL), a
``ColumnMapping`` of column names and the arrival unit. The public formats are
presets in ``FORMATS``; any other CSV/JSONL file is read with a user mapping.
Columns are always found by header name (case, spaces and underscores ignored),
never by position, so BurstGPT v2's inserted columns change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from types import MappingProxyType

from twin.errors import InvalidSpec, UnknownName, quote

# Seconds per unit of a numeric arrival column; "datetime" means wall-clock text.
ARRIVAL_UNITS = MappingProxyType({"s": 1.0, "ms": 1e-3, "us": 1e-6, "datetime": 0.0})

# Roles a column can play: every ColumnMapping field that names a column.
ROLES = ("input", "output", "arrival", "session", "blocks", "chat", "parent_chat")


@dataclass(frozen=True)
class ColumnMapping:
    """Names of the columns (CSV header names or JSONL keys) that make up a request.

    ``arrival=None`` means the file has no times (a lengths-only file): every
    request arrives at t=0; pair it with a synthetic arrival process instead.
    ``chat``/``parent_chat`` chain follow-up requests (Qwen-Bailian): when there
    is no session column, chained requests share the root request's id as session.
    """

    input: str
    output: str
    arrival: str | None = None
    arrival_unit: str = "s"
    session: str | None = None
    blocks: str | None = None
    chat: str | None = None
    parent_chat: str | None = None

    def __post_init__(self) -> None:
        if self.arrival_unit not in ARRIVAL_UNITS:
            raise InvalidSpec("mapping.arrival_unit",
                              f"must be one of {', '.join(ARRIVAL_UNITS)}, got {self.arrival_unit!r}")
        if (self.chat is None) != (self.parent_chat is None):
            raise InvalidSpec("mapping.chat", "chat and parent_chat must be given together")

    def named(self) -> dict[str, str]:
        """Role -> column name for every role this mapping uses."""
        return {role: getattr(self, role) for role in ROLES if getattr(self, role) is not None}


@dataclass(frozen=True)
class FormatSpec:
    """One trace format. ``strict``: every named column must exist (user mappings);
    presets treat session/blocks/chat columns as optional so older file versions still load.
    ``detect_with`` lists extra columns that must be present for header detection only.
    """

    name: str
    kind: str  # "csv" or "jsonl"
    columns: ColumnMapping
    block_tokens: int | None = None  # tokens per prefix block id, when the format defines it
    strict: bool = False
    detect_with: tuple[str, ...] = ()
    description: str = ""

    @property
    def required(self) -> tuple[str, ...]:
        """Roles without which a row is unusable."""
        return ("input", "output") + (("arrival",) if self.columns.arrival else ())

    @property
    def timed(self) -> bool:
        return self.columns.arrival is not None


def _preset(name: str, kind: str, arrival: str | None, unit: str, inp: str, out: str,
            description: str, **extra) -> FormatSpec:
    """A preset; ``extra`` holds ColumnMapping fields and FormatSpec fields alike."""
    keys = {f.name for f in fields(ColumnMapping)}
    mapping = ColumnMapping(inp, out, arrival, unit, **{k: v for k, v in extra.items() if k in keys})
    rest = {k: v for k, v in extra.items() if k not in keys}
    return FormatSpec(name, kind, mapping, description=description, **rest)


# Detection tries presets in this order; a preset whose columns are a superset of
# another's (vidur vs lengths, ragpulse/bailian vs mooncake) must come first.
FORMATS: Mapping[str, FormatSpec] = MappingProxyType({
    spec.name: spec for spec in (
        _preset("azure2023", "csv", "TIMESTAMP", "datetime", "ContextTokens", "GeneratedTokens",
                "Azure LLM inference 2023: 7-digit fraction, no time zone"),
        _preset("azure2024", "csv", "TIMESTAMP", "datetime", "ContextTokens", "GeneratedTokens",
                "Azure LLM inference 2024: UTC offset, variable fraction"),
        _preset("vidur", "csv", "arrived_at", "s", "num_prefill_tokens", "num_decode_tokens",
                "Vidur processed trace, seconds from the first request"),
        _preset("lengths", "csv", None, "s", "num_prefill_tokens", "num_decode_tokens",
                "Vidur/Sarathi lengths-only stats file (ShareGPT, arXiv): no times, all arrive at t=0"),
        _preset("splitwise", "csv", "arrival_timestamp", "s", "prompt_size", "token_size",
                "SplitwiseSim trace"),
        _preset("burstgpt", "csv", "Timestamp", "s", "Request tokens", "Response tokens",
                "BurstGPT v1/v2 (v2 adds a session id column)", session="Session ID"),
        _preset("bailian", "jsonl", "timestamp", "s", "input_length", "output_length",
                "Qwen-Bailian usage trace, 16-token blocks, chats chained by parent_chat_id",
                blocks="hash_ids", chat="chat_id", parent_chat="parent_chat_id",
                block_tokens=16, detect_with=("chat_id",)),
        _preset("ragpulse", "jsonl", "timestamp", "s", "input_length", "output_length",
                "RAGPulse: string seconds, unsorted, hash_ids per prompt component",
                session="session_id", blocks="hash_ids", detect_with=("session_id",)),
        _preset("mooncake", "jsonl", "timestamp", "ms", "input_length", "output_length",
                "Mooncake: ms timestamps, 512-token blocks", blocks="hash_ids", block_tokens=512),
    )
})

# Names accepted for a user mapping without a preset.
GENERIC_KINDS = ("csv", "jsonl")


def normalise(name: str) -> str:
    """Header-name key: case, spaces, underscores and punctuation ignored ('Session ID' == 'SessionID')."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def find_column(header: Sequence[str], name: str) -> int | None:
    """Position of ``name`` in ``header``: exact match first, then by normalised name."""
    if name in header:
        return list(header).index(name)
    wanted = normalise(name)
    for position, candidate in enumerate(header):
        if normalise(candidate) == wanted:
            return position
    return None


def preset(fmt: str) -> FormatSpec:
    """The preset called ``fmt``; UnknownName lists presets and generic kinds."""
    if fmt not in FORMATS:
        raise UnknownName("trace format", fmt, [*FORMATS, *GENERIC_KINDS])
    return FORMATS[fmt]


def generic(kind: str, mapping: ColumnMapping) -> FormatSpec:
    """A user-mapped CSV or JSONL format."""
    if kind not in GENERIC_KINDS:
        raise UnknownName("trace format", kind, [*FORMATS, *GENERIC_KINDS])
    return FormatSpec(kind, kind, mapping, strict=True, description="user column mapping")


def matches(spec: FormatSpec, header: Sequence[str]) -> bool:
    """Whether ``header`` has every column ``spec`` needs to be recognised."""
    named = spec.columns.named()
    wanted = [named[role] for role in spec.required] + list(spec.detect_with)
    return all(find_column(header, name) is not None for name in wanted)


def detect(kind: str, header: Sequence[str]) -> FormatSpec | None:
    """The first preset of ``kind`` whose columns the header holds, or None."""
    for spec in FORMATS.values():
        if spec.kind == kind and matches(spec, header):
            return spec
    return None


def parse_mapping(text: str) -> ColumnMapping:
    """A mapping from ``role=column`` pairs separated by commas, e.g.
    ``arrival=ts,arrival_unit=ms,input=prompt_len,output=gen_len`` (for the CLI)."""
    pairs = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        role, sep, column = item.partition("=")
        if not sep or role.strip() not in (*ROLES, "arrival_unit"):
            raise InvalidSpec("mapping", f"expected role=column with role in {', '.join(ROLES)} "
                                         f"or arrival_unit, got {quote(item)}")
        pairs[role.strip()] = column.strip()
    if "input" not in pairs or "output" not in pairs:
        raise InvalidSpec("mapping", "needs at least input=<column> and output=<column>")
    return ColumnMapping(**pairs)
