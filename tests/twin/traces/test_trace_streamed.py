"""A synthetic source of n= requests with no options is streamed (memory flat in n) and is, request for
request, what load_trace gives; a CLI replay of it stores the same summary."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from services.cli import cli
from twin.traces import TraceOptions, iter_synthetic, load_trace, parse_synthetic
from twin.traces.loader import StreamedSynthetic, streamed_trace
from twin.traces.synthetic import last_request

SOURCE = "synthetic:gamma?rate=3&cv=2&n={n}&input=16..900&output=4..300&seed=9"


@pytest.mark.parametrize("n", [1, 2, 500])
def test_it_is_the_list_load_trace_gives(n):
    streamed = streamed_trace(SOURCE.format(n=n), TraceOptions())
    loaded = load_trace(SOURCE.format(n=n))
    assert isinstance(streamed.requests, StreamedSynthetic)
    assert len(streamed.requests) == n and list(streamed.requests) == loaded.requests
    assert list(streamed.requests) == loaded.requests  # a second pass draws the same requests
    assert streamed.requests[0] == loaded.requests[0] and streamed.requests[-1] == loaded.requests[-1]
    assert streamed.requests[n // 2] == loaded.requests[n // 2]
    assert (streamed.name, streamed.fmt, streamed.timed) == (loaded.name, loaded.fmt, loaded.timed)


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
def test_the_last_request_drawn_alone_is_the_streams_last(chunk):
    spec = parse_synthetic(SOURCE.format(n=300))
    assert last_request(spec, chunk) == list(iter_synthetic(spec, chunk=chunk))[-1]


@pytest.mark.parametrize("source, options", [
    (SOURCE.format(n=50), TraceOptions(limit=10)),
    (SOURCE.format(n=50), TraceOptions(rate_rps=2.0)),
    (SOURCE.format(n=50), TraceOptions(max_context=512)),
    ("synthetic:poisson?rate=2&duration_s=30&input=16..90&output=4..30", TraceOptions()),
    ("azure-conv-2023", TraceOptions()),
])
def test_what_needs_the_whole_list_is_not_streamed(source, options):
    assert streamed_trace(source, options) is None


def test_a_streamed_replay_stores_the_listed_replays_summary(tmp_path):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    source = SOURCE.format(n=400)

    def summary(*extra):
        out = CliRunner().invoke(cli, ["--db", db, "replay", source, "--model", "opt-1.3b", "--json", *extra],
                                 catch_exceptions=False)
        assert out.exit_code == 0, out.output
        return json.loads(out.output)["summary"]
    assert summary() == summary("--limit", "400")  # --limit makes load_trace hold the list
