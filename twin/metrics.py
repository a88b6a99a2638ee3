"""What a run records. The core only appends these records to lists; sinks store them."""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

from twin.summary import RequestTally


class RequestRecord(NamedTuple):
    """One request's outcome. Times are simulated seconds; None where the event never happened.

    A tuple, made once per request: a frozen dataclass took 3 us to make, eight times as long."""

    request_id: int
    replica: int
    state: str  # a RequestState value: done, rejected, ...
    arrival_s: float
    input_tokens: int
    output_tokens: int
    first_token_s: float | None
    finish_s: float | None
    preemptions: int
    reason: str = ""

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_token_s is None else self.first_token_s - self.arrival_s

    @property
    def tpot_s(self) -> float | None:
        if self.finish_s is None or self.first_token_s is None or self.output_tokens < 2:
            return None
        return (self.finish_s - self.first_token_s) / (self.output_tokens - 1)

    @property
    def e2e_s(self) -> float | None:
        return None if self.finish_s is None else self.finish_s - self.arrival_s


class SeriesSample(NamedTuple):
    """One point of a time series, e.g. name='replica0/batch' or 'replica0/kv_occupancy' (a tuple, like a record)."""

    t_s: float
    name: str
    value: float


# Made by tuple.__new__ itself, twice as fast as a NamedTuple's own (Python) constructor: one record per
# request and a sample per series point, in the simulation's inner loop.
new_record = partial(tuple.__new__, RequestRecord)
_new_sample = partial(tuple.__new__, SeriesSample)


class Recorder:
    """What happened, as lists a sink drains, and a running tally for the summary. No I/O.

    With `keep` (the default) the lists keep every record and `drain` returns what is new;
    without it `drain` hands the records over and forgets them, so a long replay whose sink
    stores them holds only what was recorded since the last drain.
    """

    def __init__(self, keep: bool = True):
        self.keep = keep
        self.requests: list[RequestRecord] = []
        self.series: list[SeriesSample] = []
        self.tally = RequestTally()  # replay() gives it the run's SLO before the first record
        self.recorded = 0  # request records ever recorded
        self._sent = (0, 0)

    def request(self, record: RequestRecord) -> None:
        self.requests.append(record)
        self.tally.add(record)
        self.recorded += 1

    def sample(self, t_s: float, name: str, value: float) -> None:
        self.series.append(_new_sample((t_s, name, value)))

    def drain(self) -> tuple[list[RequestRecord], list[SeriesSample]]:
        """What was recorded since the last drain, for batched sinks."""
        if not self.keep:
            out = self.requests, self.series
            self.requests, self.series = [], []
            return out
        r0, s0 = self._sent
        self._sent = (len(self.requests), len(self.series))
        return self.requests[r0:], self.series[s0:]
