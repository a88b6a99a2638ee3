"""Decoding one trace row into a ``TraceRequest`` once the format's columns are located.

A row is a CSV list (indexed by column position) or a JSON object (indexed by
key); both are read with ``row[key]``, so one decoder serves both kinds. The
decoder holds the per-file state a row needs: the wall-clock origin and the
chat -> session map for chained requests.
"""

from __future__ import annotations

from collections.abc import Sequence

from twin.errors import quote
from twin.serving.request import TraceRequest
from twin.traces import cells
from twin.traces.cells import CellError
from twin.traces.formats import ARRIVAL_UNITS, FormatSpec, find_column
from twin.traces.timestamps import WallClock

# Session values that mark a chat as a root (Qwen-Bailian writes -1).
_NO_PARENT = (None, "-1", "")


def locate(spec: FormatSpec, header: Sequence[str], by_position: bool) -> dict[str, tuple[object, str]]:
    """Role -> (key, column name) for each column of ``spec`` found in ``header``.

    ``by_position``: keys are CSV positions; otherwise the header's own names
    (JSONL keys). Raises CellError for a missing required (or, if strict, any) column.
    """
    located, missing = {}, []
    for role, name in spec.columns.named().items():
        position = find_column(header, name)
        if position is not None:
            located[role] = (position if by_position else header[position], name)
        elif spec.strict or role in spec.required:
            missing.append(name)
    if missing:
        raise CellError(missing[0], f"format {spec.name!r} needs column(s) {', '.join(missing)}; "
                                    f"header has {quote(', '.join(map(str, header)), 200)}")
    return located


class RowDecoder:
    """Turns rows of one file into TraceRequests (arrival in trace seconds, not yet rebased)."""

    def __init__(self, spec: FormatSpec, located: dict[str, tuple[object, str]]):
        self._located = located
        self._scale = ARRIVAL_UNITS[spec.columns.arrival_unit]
        self._clock = WallClock() if spec.columns.arrival_unit == "datetime" else None
        self._roots: dict[str, str] = {}
        # Looked up once per file, not per row (a trace has tens of thousands of rows).
        self._input, self._output = located["input"], located["output"]
        self._sessions = "session" in located or "chat" in located
        self._with_blocks = "blocks" in located

    def decode(self, row, request_id: int) -> TraceRequest:
        """One request; raises CellError naming the column at fault."""
        (input_key, input_name), (output_key, output_name) = self._input, self._output
        return TraceRequest(
            request_id,
            self._arrival(row),
            cells.tokens(_required(row, input_key, input_name), input_name),
            cells.tokens(_required(row, output_key, output_name), output_name),
            self._session(row) if self._sessions else None,
            self._blocks(row) if self._with_blocks else (),
        )

    def _arrival(self, row) -> float:
        at = self._located.get("arrival")
        if at is None:
            return 0.0  # lengths-only file: documented t=0 arrivals
        key, name = at
        value = _required(row, key, name)
        if self._clock is None:
            return cells.seconds(value, name, self._scale)
        try:
            return self._clock.seconds(str(value))
        except ValueError as error:
            raise CellError(name, str(error)) from None

    def _session(self, row) -> str | None:
        if "session" in self._located:
            return cells.session(_optional(row, self._located["session"][0]))
        if "chat" not in self._located:
            return None
        chat = cells.session(_optional(row, self._located["chat"][0]))
        parent = cells.session(_optional(row, self._located["parent_chat"][0]))
        # A follow-up inherits its parent's root; an unseen parent starts its own chain.
        root = chat if parent in _NO_PARENT else self._roots.get(parent, parent)
        if chat is not None:
            self._roots[chat] = root
        return root

    def _blocks(self, row) -> tuple[int, ...]:
        if "blocks" not in self._located:
            return ()
        key, name = self._located["blocks"]
        return cells.block_ids(_optional(row, key), name)


def _required(row, key, name: str):
    try:
        return row[key]
    except (IndexError, KeyError):
        raise CellError(name, "missing field") from None


def _optional(row, key):
    try:
        return row[key]
    except (IndexError, KeyError):
        return None
