"""The bad-input matrix: every hostile or mistaken input, through the CLI and through the services.

Each case names its expected CLI exit code or gRPC status and a fragment of the message. No
case may end in a Python traceback (CLI) or an UNKNOWN / INTERNAL status (gRPC), and no
message may echo more than a bounded prefix of what the user sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
import yaml
from click.testing import CliRunner

from services.cli import cli
from services.common.messages import MAX_CHARS
from services.controller.remote import RemoteReplay
from services.limits import RunLimits
from twin_api.v1 import common_pb2, controller_pb2

HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
ROWS = "2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,396,109\n"
SMALL = ["--model", "opt-1.3b", "--tp", "1", "--no-progress"]
MEGA = "x" * 1_000_000
MEASURED = "start_time,prompt_len,output_tokens,ttft,tpot,latency\n0,100,5,0.05,0.01,0.09\n"
FIT = ["--server", "h100x1", "--model", "opt-1.3b"]
GB = 1 << 30
SEARCH = ["search", "azure-conv-2023", "--limit", "5", "--model", "opt-1.3b", "--tp", "1", "--trials", "2"]
DEEP = "a: " + "[" * 20_000 + "]" * 20_000  # 20,000 levels of nesting in 40 KB


def laughs(name: str = "laughs", levels: int = 9) -> str:
    """A 1 KB model entry of nested aliases ("billion laughs"): 9**9 strings once expanded."""
    lines = [f"name: {name}", 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


OPT = (Path(__file__).resolve().parents[2] / "twin/catalog/models/opt-1.3b.yaml").read_text()
SLIPS = {"m-bool": "layers: true", "m-float": "layers: 32.5", "m-window": "sliding_window: -1",
         "m-nan": "published_params_b: .nan", "m-family": "family: [1]", "m-abc": "sliding_window: abc"}
MISTRAL = {"model_type": "mistral", "num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
           "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000,
           "max_position_embeddings": 32768, "sliding_window": 4096}


def slipped(name: str) -> str:
    """opt-1.3b's entry renamed `name`, with the one field of SLIPS[name] of the wrong type."""
    field = SLIPS[name].split(":")[0] + ":"
    lines = [SLIPS[name] if line.startswith(field) else line for line in OPT.splitlines()]
    return "\n".join(lines).replace("name: opt-1.3b", f"name: {name}") + "\n"


def _configs(folder: Path) -> dict[str, Path]:
    """Hostile Hugging Face config.json files for `catalog import-model`."""
    made = {"deep.json": "[" * 200_000 + "]" * 200_000,
            "experts-str.json": json.dumps({**MISTRAL, "num_local_experts": "8"}),
            "experts-list.json": json.dumps({**MISTRAL, "num_local_experts": [8]}),
            "digits.json": json.dumps(MISTRAL)[:-1] + ', "vocab_size": ' + "9" * 5000 + "}",
            "window-abc.json": json.dumps({**MISTRAL, "sliding_window": "abc"}),
            "mistral.json": json.dumps(MISTRAL)}
    for name, text in made.items():
        (folder / name).write_text(text)
    return {name: folder / name for name in made}


def _catalog_folder(folder: Path, entries: dict[str, str]) -> Path:
    """A user catalogue folder holding models/NAME.yaml for each of `entries`."""
    (folder / "models").mkdir(parents=True)
    for name, text in entries.items():
        (folder / "models" / f"{name}.yaml").write_text(text)
    return folder


def files(folder: Path) -> dict[str, Path]:
    """The hostile files, written once per test."""
    made = {
        "binary.csv": bytes(range(128, 256)) * 32,  # not UTF-8, and no NUL bytes
        "zeros.csv": bytes(4096),
        "header-only.csv": HEADER.encode(),
        "big-field.csv": (HEADER + ROWS + '"' + "9" * 200_000 + '",1,1\n').encode(),
        "bad-row.csv": (HEADER + ROWS + "2023-11-16 18:16:00,abc,5\n").encode(),
        "out-of-order.csv": (HEADER + "2023-11-16 18:15:50.0,300,10\n2023-11-16 18:15:46.0,374,44\n"
                             "2023-11-16 18:15:48.0,200,20\n").encode(),
        "policy.bin": bytes(range(128, 256)) * 4,
        "measured.csv": (MEASURED + "0.5,120,4,0.05,0.01,0.08\n").encode(),
        "negative.csv": (MEASURED + "0.5,120,4,-0.05,0.01,0.08\n").encode(),
        "mismatch.json": json.dumps({"input_lens": [10, 20, 30], "output_lens": [2, 2, 2], "ttfts": [0.1] * 3,
                                     "itls": [[0.01]] * 3, "start_times": [0.0, 1.0]}).encode(),
    }
    paths = {}
    for name, data in made.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    sparse = folder / "sparse-1gb.csv"  # 1 GB of zeros that takes no disk: must not take 1 GB of memory
    with sparse.open("wb") as f:
        f.truncate(1 << 30)
    paths["sparse-1gb.csv"] = sparse
    paths["laughs-hw"] = _catalog_folder(folder / "laughs-hw", {"laughs": laughs()})
    paths["deep-hw"] = _catalog_folder(folder / "deep-hw", {"deep": "name: deep\n" + DEEP})
    paths["zero-hw"] = _catalog_folder(folder / "zero-hw", {})
    (paths["zero-hw"] / "models" / "zero.yaml").symlink_to("/dev/zero")
    paths["fifo-hw"] = _catalog_folder(folder / "fifo-hw", {})
    os.mkfifo(paths["fifo-hw"] / "models" / "x.yaml")  # nobody ever writes to it
    paths["types-hw"] = _catalog_folder(folder / "types-hw", {name: slipped(name) for name in SLIPS})
    paths.update(_configs(folder))
    paths["cal-out"] = folder / "cal-out"  # never created: a refused calibration writes nothing
    paths["big-hw"] = _catalog_folder(folder / "big-hw", {})
    with (paths["big-hw"] / "models" / "big.yaml").open("wb") as f:
        f.truncate(100 << 20)  # 100 MB that takes no disk
    return paths


@dataclass(frozen=True)
class CliCase:
    name: str
    args: list[str]  # {name} is replaced by the path of that hostile file
    exit_code: int
    fragment: str
    env: dict[str, str] = field(default_factory=dict)


CLI_CASES = [
    CliCase("servers=1000000", ["replay", "azure-conv-2023", "--servers", "1000000", *SMALL], 1, "TWIN_MAX_CHIPS"),
    CliCase("synthetic n=50000000", ["replay", "synthetic:poisson?rate=5&n=50000000&input=10..20&output=5..9",
                                     *SMALL], 1, "TWIN_MAX_SYNTHETIC_REQUESTS"),
    CliCase("requests over the limit", ["replay", "azure-conv-2023", "--limit", "20", *SMALL], 1,
            "TWIN_MAX_REQUESTS", {"TWIN_MAX_REQUESTS": "10"}),
    CliCase("1 MB run id", ["runs", "show", MEGA], 1, "unknown run 'xxx"),
    CliCase("1 MB trace name", ["replay", MEGA, *SMALL], 1, "unknown trace"),
    CliCase("binary trace", ["replay", "{binary.csv}", *SMALL], 1, "binary.csv:1: column '<line>': not UTF-8"),
    CliCase("zero-filled trace", ["replay", "{zeros.csv}", *SMALL], 1, "zeros.csv:1: column '<line>': NUL bytes"),
    CliCase("sparse 1 GB trace", ["replay", "{sparse-1gb.csv}", *SMALL], 1, "sparse-1gb.csv:1: column '<line>'"),
    CliCase("CSV field over the limit", ["replay", "{big-field.csv}", *SMALL], 1, "big-field.csv:4"),
    CliCase("malformed row", ["replay", "{bad-row.csv}", *SMALL], 1, "bad-row.csv:4: column 'ContextTokens'"),
    CliCase("header-only trace", ["replay", "{header-only.csv}", *SMALL], 1, "no requests in header-only.csv"),
    CliCase("window cuts every request", ["replay", "azure-conv-2023", "--window", "1e9:", *SMALL], 1,
            "no requests left"),
    CliCase("--window garbage", ["replay", "azure-conv-2023", "--window", "garbage", *SMALL], 1, "--window"),
    CliCase("binary --policy", ["replay", "azure-conv-2023", "--policy", "{policy.bin}", *SMALL], 1,
            "not UTF-8 text"),
    CliCase("negative SLO", ["replay", "azure-conv-2023", "--limit", "5", "--slo-ttft", "-1", *SMALL], 1,
            "slo.ttft_s: must be a finite number of seconds > 0"),
    CliCase("NaN SLO", ["replay", "azure-conv-2023", "--limit", "5", "--slo-tpot", "nan", *SMALL], 1,
            "slo.tpot_s: must be a finite number of seconds > 0"),
    CliCase("unknown model", ["replay", "azure-conv-2023", "--model", "gpt-9"], 1, "unknown model 'gpt-9'"),
    CliCase("model name as a path", ["replay", "azure-conv-2023", "--model", "../../x"], 1,
            "unknown model '../../x' (known: "),
    CliCase("server name as a path", ["replay", "azure-conv-2023", "--server", "../models/llama2-7b"], 1,
            "unknown server '../models/llama2-7b' (known: "),
    CliCase("1 MB model name", ["replay", "azure-conv-2023", "--model", MEGA], 1, "1,000,000 characters"),
    CliCase("1 MB server name", ["replay", "azure-conv-2023", "--server", MEGA], 1, "1,000,000 characters"),
    CliCase("serve without a token", ["serve", "cluster", "--port", "0"], 1, "TWIN_AUTH_TOKEN: not set",
            {"TWIN_AUTH_TOKEN": "", "TWIN_AUTH": "on"}),
    CliCase("serve --auth off with a token", ["serve", "metrics", "--auth", "off", "--port", "0"], 1,
            "TWIN_AUTH: is off but TWIN_AUTH_TOKEN is set", {"TWIN_AUTH_TOKEN": "t"}),
    CliCase("TWIN_AUTH=maybe", ["serve", "controller", "--cluster", "x", "--port", "0"], 2,
            "'maybe' is not one of 'on', 'off'", {"TWIN_AUTH": "maybe", "TWIN_AUTH_TOKEN": "t"}),
    CliCase("model does not fit", ["replay", "azure-conv-2023", "--model", "llama2-70b", "--tp", "1"], 1, "needs"),
    CliCase("tp that does not divide", ["replay", "azure-conv-2023", "--tp", "3", "--model", "opt-1.3b"], 1, "tp"),
    CliCase("missing trace file", ["replay", "no/such/file.csv", *SMALL], 1, "unknown trace"),
    CliCase("billion laughs in a --catalog folder", ["--catalog", "{laughs-hw}", "replay", "azure-conv-2023",
                                                    "--model", "laughs", "--tp", "1", "--no-progress"], 1,
            "laughs.yaml: YAML anchors and aliases (&, *) are not allowed (line 2)"),
    CliCase("billion laughs validated", ["catalog", "validate", "{laughs-hw}/models/laughs.yaml"], 1,
            "laughs.yaml: YAML anchors and aliases"),
    CliCase("20,000 levels in a --catalog folder", ["--catalog", "{deep-hw}", "catalog", "models"], 1,
            "deep.yaml: nested deeper than 32 levels"),
    CliCase("symlink to /dev/zero in a --catalog folder", ["--catalog", "{zero-hw}", "catalog", "models"], 1,
            "zero.yaml: is not a regular file"),
    CliCase("FIFO in a --catalog folder", ["--catalog", "{fifo-hw}", "catalog", "models"], 1,
            "x.yaml: is not a regular file"),
    CliCase("100 MB file in a --catalog folder", ["--catalog", "{big-hw}", "catalog", "models"], 1,
            "big.yaml: larger than its limit of 256 KB"),
    CliCase("validate a FIFO", ["catalog", "validate", "{fifo-hw}/models/x.yaml"], 1, "x.yaml: is not a regular file"),
    *[CliCase(f"{SLIPS[name]} validated", ["catalog", "validate", "{types-hw}/models/" + name + ".yaml"], 1,
              f"{name}.yaml: {name}.{SLIPS[name].split(':')[0]}: must be ") for name in SLIPS],
    CliCase("layers: true replayed", ["--catalog", "{types-hw}", "replay", "azure-conv-2023", "--model", "m-bool",
                                      "--tp", "1", "--no-progress"], 1,
            "m-bool.layers: must be a whole number (at most 2**53), got True"),
    CliCase("published_params_b: .nan replayed", ["--catalog", "{types-hw}", "replay", "azure-conv-2023", "--model",
                                                  "m-nan", "--tp", "1", "--no-progress"], 1,
            "m-nan.published_params_b: must be a finite number, got nan"),
    CliCase("import-model: deeply nested JSON", ["catalog", "import-model", "{deep.json}", "--name", "x"], 1,
            "deep.json: is nested too deeply"),
    CliCase("import-model: num_local_experts a string", ["catalog", "import-model", "{experts-str.json}", "--name",
                                                         "x"], 1, "num_local_experts: must be a whole number"),
    CliCase("import-model: num_local_experts a list", ["catalog", "import-model", "{experts-list.json}", "--name",
                                                       "x"], 1, "num_local_experts: must be a whole number"),
    CliCase("import-model: 5,000 digits", ["catalog", "import-model", "{digits.json}", "--name", "x"], 1,
            "digits.json: holds a number too long to read"),
    CliCase("import-model: sliding_window abc", ["catalog", "import-model", "{window-abc.json}", "--name", "x"], 1,
            "window-abc.json: sliding_window: must be a whole number"),
    CliCase("import-model: output in a missing folder", ["catalog", "import-model", "{mistral.json}", "--name", "x",
                                                         "-o", "{mistral.json}.d/no/x.yaml"], 1, "does not exist"),
    CliCase("synthetic lengths beyond 64 bits", ["replay", "synthetic:poisson?rate=5&n=10&input=" + "9" * 20
                                                 + "&output=5", *SMALL], 1,
            "synthetic.input: at most 2,147,483,647 tokens, got 99,999,999,999,999,999,999"),
    CliCase("synthetic lengths of 5,000 digits", ["trace", "stats", "synthetic:poisson?rate=5&n=10&input=5&output="
                                                  + "9" * 5000], 1, "synthetic.output: expected an integer"),
    CliCase("gamma cv=1e308", ["replay", "synthetic:gamma?cv=1e308&rate=5&n=10&input=10&output=5", *SMALL], 1,
            "synthetic.cv: must be in [0.001, 1000], got 1e+308"),
    CliCase("gamma cv=1e-300", ["trace", "stats", "synthetic:gamma?cv=1e-300&rate=5&n=10&input=10&output=5"], 1,
            "synthetic.cv: must be in [0.001, 1000]"),
    CliCase("report into a missing folder", ["report", "abc", "-o", "{binary.csv}.d/no/r.html"], 1,
            "r.html: folder"),
    CliCase("export into a missing folder", ["runs", "export", "abc", "-o", "{binary.csv}.d/no/r.csv"], 1,
            "does not exist"),
    CliCase("export over an existing file", ["runs", "export", "abc", "-o", "{binary.csv}"], 1,
            "binary.csv: already exists; pass --force to replace it"),
    CliCase("export with an unknown suffix", ["runs", "export", "abc", "-o", "{binary.csv}.txt"], 1,
            "cannot tell the format from the suffix"),
    CliCase("trace stats of a synthetic n=50000000", ["trace", "stats", "synthetic:poisson?rate=5&n=50000000&"
                                                      "input=10..20&output=5..9"], 1, "TWIN_MAX_SYNTHETIC_REQUESTS"),
    CliCase("trace stats over a lowered limit", ["trace", "stats", "synthetic:poisson?rate=5&duration_s=10&"
                                                 "input=10..20&output=5..9"], 1,
            "about 50 requests; the limit is 10", {"TWIN_MAX_SYNTHETIC_REQUESTS": "10"}),
    CliCase("calibrate: requests that do not match their arrivals", ["calibrate", "{mismatch.json}", *FIT, "-o",
            "{cal-out}"], 1, "mismatch.json:1: column 'start_times': has 2 entries for 3 requests"),
    CliCase("calibrate: negative latency", ["calibrate", "{negative.csv}", *FIT, "-o", "{cal-out}"], 1,
            "negative.csv:3: column 'ttft_s': must be a finite time >= 0"),
    CliCase("validate: negative latency", ["validate", "{negative.csv}", *FIT], 1, "negative.csv:3: column 'ttft_s'"),
    CliCase("calibrate: unknown parameter", ["calibrate", "{measured.csv}", *FIT, "--fit", "chip.warp_drive", "-o",
            "{cal-out}"], 1, "unknown parameter 'chip.warp_drive'"),
    CliCase("calibrate: start outside the bounds", ["calibrate", "{measured.csv}", *FIT, "--start",
            "chip.kernel_launch_s=1", "-o", "{cal-out}"], 1, "chip.kernel_launch_s = 1 is outside its physical bounds"),
    CliCase("calibrate: a link the server's link lacks", ["calibrate", "{measured.csv}", *FIT, "--fit",
            "link.sync_cycles", "-o", "{cal-out}"], 1, "link.sync_cycles = 0 is outside its physical bounds"),
    CliCase("calibrate into a non-empty folder", ["calibrate", "{measured.csv}", *FIT, "-o", "{laughs-hw}"], 1,
            "exists and is not an empty folder"),
    CliCase("search: an empty range", [*SEARCH, "--space", "max_batch=64..8", "--objective", "ttft_p99_s:min"], 1,
            "--space: max_batch=64..8 is an empty range"),
    CliCase("search: an unknown field", [*SEARCH, "--space", "bogus=1..4", "--objective", "ttft_p99_s:min"], 1,
            "--space: cannot sweep 'bogus'"),
    CliCase("search: an unknown hardware field", [*SEARCH, "--space", "chip.bogus=1..4", "--objective",
                                                  "ttft_p99_s:min"], 1, "--space: chip.bogus: unknown field"),
    CliCase("search: an objective without a direction", [*SEARCH, "--space", "max_batch=8..64", "--objective",
                                                         "goodput"], 1, "--objective: goodput needs a direction"),
    CliCase("search: a constraint on no such figure", [*SEARCH, "--space", "max_batch=8..64", "--objective",
                                                       "ttft_p99_s:min", "--constraint", "area<=400"], 1,
            "--constraint: unknown figure 'area'"),
    CliCase("read-only database", ["--db", "sqlite:///file:{ro.db}?mode=ro&uri=true", "replay", "azure-conv-2023",
                                   "--limit", "5", *SMALL], 1, "readonly database"),
]


def run_cli(case: CliCase, paths: dict[str, Path], db: str, monkeypatch):
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    args = []
    for arg in case.args:
        for name, path in paths.items():
            arg = arg.replace("{" + name + "}", str(path))
        args.append(arg)
    if args[0] != "--db":
        args = ["--db", db, *args]
    return CliRunner().invoke(cli, args)


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.name for c in CLI_CASES])
def test_cli_bad_input(case: CliCase, tmp_path, monkeypatch) -> None:
    paths = files(tmp_path)
    paths["ro.db"] = tmp_path / "ro.db"
    db = f"sqlite:///{tmp_path / 'twin.db'}"
    CliRunner().invoke(cli, ["--db", f"sqlite:///{paths['ro.db']}", "runs", "list"])  # an existing, migrated file
    result = run_cli(case, paths, db, monkeypatch)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.exit_code == case.exit_code, result.output
    assert case.fragment in result.output, result.output
    assert len(result.output) < MAX_CHARS + 200  # one bounded line, never the user's megabyte back
    assert "stored as run" not in result.output  # refused before any run exists
    if case.args[0] == "replay":
        assert not (tmp_path / "twin.db").exists()  # nor is a database made for a refused replay
    if case.args[0] == "calibrate":
        assert not paths["cal-out"].exists()  # a refused calibration writes nothing
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".cal-out")]


def test_cli_out_of_order_timestamps_are_sorted_and_counted(tmp_path) -> None:
    paths = files(tmp_path)
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 't.db'}", "replay", str(paths["out-of-order.csv"]),
                                      *SMALL, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]  # the warning goes to stderr: stdout is pure JSON
    assert summary["trace"]["out_of_order"] == 2 and summary["requests"]["done"] == 3
    assert "arrive before a row above them" in result.stderr
    human = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 't.db'}", "replay",
                                     str(paths["out-of-order.csv"]), *SMALL])
    assert "2 request(s) of out-of-order.csv arrive before a row above them" in human.output


# ---- the same inputs through the services --------------------------------------------------


def chunks(name: str, data: bytes, size: int = 64 * 1024):
    for at in range(0, max(len(data), 1), size):
        yield controller_pb2.TraceChunk(name=name if at == 0 else "", data=data[at:at + size])


def rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error = caught.value
    assert error.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), error.details()
    assert len(error.details()) <= MAX_CHARS + 50
    return error


@pytest.mark.parametrize("name, code, fragment", [
    ("binary.csv", grpc.StatusCode.INVALID_ARGUMENT, "binary.csv:1: column '<line>': not UTF-8"),
    ("zeros.csv", grpc.StatusCode.INVALID_ARGUMENT, "zeros.csv:1: column '<line>': NUL bytes"),
    ("header-only.csv", grpc.StatusCode.INVALID_ARGUMENT, "no requests in header-only.csv"),
    ("big-field.csv", grpc.StatusCode.INVALID_ARGUMENT, "big-field.csv:4"),
    ("bad-row.csv", grpc.StatusCode.INVALID_ARGUMENT, "bad-row.csv:4: column 'ContextTokens'"),
])
def test_grpc_bad_uploads(stack, tmp_path, name, code, fragment) -> None:
    data = files(tmp_path)[name].read_bytes()
    error = rpc_error(lambda: stack.controller.UploadTrace(chunks(name, data)))
    assert error.code() is code and fragment in error.details(), error.details()


@pytest.mark.parametrize("name, fragment", [
    ("a\x00b.csv", "name: a trace file name may not hold control characters"),
    ("x" * 300 + ".csv", "name: a trace file name is at most 200 bytes, got 304"),
])
def test_grpc_upload_names_the_file_system_would_refuse(stack, name, fragment) -> None:
    error = rpc_error(lambda: stack.controller.UploadTrace(chunks(name, (HEADER + ROWS).encode())))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT and fragment in error.details(), error.details()


def test_grpc_limit_of_2_to_the_64_minus_1_means_every_request(stack, replay_req) -> None:
    request = replay_req(limit=30)
    request.trace.name = "synthetic:poisson?rate=5&n=12&input=10..20&output=5..9"
    request.options.limit = 2 ** 64 - 1
    run = stack.wait(stack.controller.StartReplay(request, timeout=60).run_id)
    assert run.status == "complete" and json.loads(run.summary_json)["requests"]["total"] == 12


def test_grpc_oversized_upload_names_the_limit(stack) -> None:
    error = rpc_error(lambda: stack.controller.UploadTrace(chunks("big.csv", (HEADER + ROWS * 40_000).encode())))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED and "TWIN_MAX_UPLOAD_BYTES" in error.details()


def _request(replay_req, *, trace: str | None = None, slo: dict | None = None, **spec) -> controller_pb2.ReplayRequest:
    request = replay_req()
    if trace is not None:
        request.trace.name = trace
    for key, value in spec.items():
        setattr(request.spec, key, value)
    if slo:
        request.slo.CopyFrom(common_pb2.Slo(**slo))
    return request


@pytest.mark.parametrize("change, code, fragment", [
    (dict(servers=1_000_000), grpc.StatusCode.RESOURCE_EXHAUSTED, "TWIN_MAX_CHIPS"),
    (dict(trace="synthetic:poisson?rate=5&n=50000000&input=10..20&output=5..9"), grpc.StatusCode.RESOURCE_EXHAUSTED,
     "TWIN_MAX_SYNTHETIC_REQUESTS"),
    (dict(trace="synthetic:poisson?rate=1000&duration_s=1e7&input=10..20&output=5..9"),
     grpc.StatusCode.RESOURCE_EXHAUSTED, "TWIN_MAX_SYNTHETIC_REQUESTS"),
    (dict(slo=dict(ttft_s=-1.0)), grpc.StatusCode.INVALID_ARGUMENT, "slo.ttft_s"),
    (dict(slo=dict(tpot_s=float("nan"))), grpc.StatusCode.INVALID_ARGUMENT, "slo.tpot_s"),
    (dict(model="gpt-9"), grpc.StatusCode.NOT_FOUND, "unknown model 'gpt-9'"),
    (dict(model="../../x"), grpc.StatusCode.NOT_FOUND, "unknown model '../../x' (known: "),
    (dict(server="../models/llama2-7b"), grpc.StatusCode.NOT_FOUND, "unknown server '../models/llama2-7b'"),
    (dict(model=MEGA), grpc.StatusCode.NOT_FOUND, "1,000,000 characters"),
    (dict(server=MEGA), grpc.StatusCode.NOT_FOUND, "1,000,000 characters"),
    (dict(trace=MEGA), grpc.StatusCode.INVALID_ARGUMENT, "1,000,000 characters"),
    (dict(trace="/etc/passwd"), grpc.StatusCode.INVALID_ARGUMENT, "trace.name"),
    (dict(model="llama2-70b"), grpc.StatusCode.RESOURCE_EXHAUSTED, "GiB per chip"),
    (dict(tp=5), grpc.StatusCode.INVALID_ARGUMENT, "tp"),
    (dict(definitions_yaml="models:\n  laughs:\n" + "".join("    " + line + "\n" for line in laughs().splitlines())),
     grpc.StatusCode.INVALID_ARGUMENT, "spec.definitions_yaml: YAML anchors and aliases (&, *) are not allowed"),
    (dict(overrides_yaml="a: &a [1, 1]\nb: [*a, *a]\n"), grpc.StatusCode.INVALID_ARGUMENT,
     "spec.overrides_yaml: YAML anchors and aliases"),
    (dict(definitions_yaml=DEEP), grpc.StatusCode.INVALID_ARGUMENT, "spec.definitions_yaml: nested deeper than 32"),
    (dict(trace="synthetic:poisson?rate=5&n=10&input=" + "9" * 20 + "&output=5"), grpc.StatusCode.INVALID_ARGUMENT,
     "synthetic.input: at most 2,147,483,647 tokens"),
    (dict(trace="synthetic:gamma?cv=1e308&rate=5&n=10&input=10&output=5"), grpc.StatusCode.INVALID_ARGUMENT,
     "synthetic.cv: must be in [0.001, 1000]"),
    (dict(definitions_yaml="chips: 5\n"), grpc.StatusCode.INVALID_ARGUMENT,
     "definitions.chips: must be a mapping of names to entries (or a list), got int"),
    (dict(definitions_yaml="models: [5]\n"), grpc.StatusCode.INVALID_ARGUMENT, "must be a YAML mapping of fields"),
    *[(dict(model=name, definitions_yaml=json.dumps({"models": {name: yaml.safe_load(slipped(name))}})),
       grpc.StatusCode.INVALID_ARGUMENT, f"{name}.{SLIPS[name].split(':')[0]}: must be ") for name in SLIPS],
])
def test_grpc_bad_replay_requests(stack, replay_req, change, code, fragment) -> None:
    error = rpc_error(lambda: stack.controller.StartReplay(_request(replay_req, **change), timeout=60))
    assert error.code() is code and fragment in error.details(), error.details()
    assert list(stack.controller.ListRuns(controller_pb2.ListRunsRequest()).runs) == []


def test_grpc_megabyte_run_id_is_not_found_with_a_bounded_message(stack) -> None:
    for call in (lambda: stack.controller.GetRun(controller_pb2.GetRunRequest(run_id=MEGA)),
                 lambda: stack.controller.CancelRun(controller_pb2.CancelRunRequest(run_id=MEGA)),
                 lambda: list(stack.controller.WatchRun(controller_pb2.WatchRunRequest(run_id=MEGA)))):
        error = rpc_error(call)
        assert error.code() is grpc.StatusCode.NOT_FOUND and "unknown run 'xxx" in error.details()


def test_grpc_requests_per_run_and_records_in_memory(make_stack, sqlite_url, replay_req, monkeypatch) -> None:
    # The first run is held before its trace reaches a replica, so it is surely in flight when
    # the second asks (a fast replay could otherwise end first), and let go once that is refused.
    release, submit = threading.Event(), RemoteReplay._submit
    monkeypatch.setattr(RemoteReplay, "_submit", lambda self, session: (release.wait(60), submit(self, session))[1])
    limited = make_stack(sqlite_url, run_limits=RunLimits(max_requests=40, max_records_in_memory=60))
    error = rpc_error(lambda: limited.controller.StartReplay(replay_req(limit=41)))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED and "TWIN_MAX_REQUESTS" in error.details()
    running = limited.controller.StartReplay(replay_req(limit=40))
    try:
        error = rpc_error(lambda: limited.controller.StartReplay(replay_req(limit=30)))
    finally:
        release.set()
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED and "TWIN_MAX_RECORDS_IN_MEMORY" in error.details()
    assert limited.wait(running.run_id).status == "complete"
    assert limited.wait(limited.controller.StartReplay(replay_req(limit=30)).run_id).status == "complete"


def test_grpc_out_of_order_upload_is_sorted_and_counted(stack, replay_req, tmp_path) -> None:
    data = files(tmp_path)["out-of-order.csv"].read_bytes()
    uploaded = stack.controller.UploadTrace(chunks("ooo.csv", data))
    request = replay_req()
    request.trace.upload_id = uploaded.upload_id
    run = stack.wait(stack.controller.StartReplay(request).run_id)
    assert json.loads(run.summary_json)["trace"]["out_of_order"] == 2


# ---- memory stays bounded for hostile input ------------------------------------------------


def twin_peak_rss(args: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess, int]:
    """Run `twin ARGS` in a child Python and return it with its peak resident memory in bytes."""
    # The child caps its own address space (a safety net for the machine should the bound be broken: 3 GB)
    # before importing anything: a preexec_fn would make subprocess fork() rather than vfork(), and a gRPC
    # forked so restarts its poller, which can abort the child before it execs (grpc/grpc#43055).
    script = (f"import resource, sys\nresource.setrlimit(resource.RLIMIT_AS, ({3 * GB}, {3 * GB}))\n"
              "from services.cli import cli\ntry:\n    cli(sys.argv[1:], prog_name='twin')\n"
              "finally:\n    print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", script, "--db", f"sqlite:///{tmp_path / 'rss.db'}", *args],
                          capture_output=True, text=True, timeout=120)
    assert "maxrss" in done.stderr, f"the child ended without its report (exit {done.returncode}): {done.stderr[-800:]}"
    kb = int(done.stderr.rsplit("maxrss", 1)[1].split()[0])
    return done, kb * 1024


@pytest.mark.parametrize("args", [
    ["--catalog", "{laughs-hw}", "replay", "azure-conv-2023", "--model", "laughs", "--tp", "1", "--no-progress"],
    ["catalog", "validate", "{laughs-hw}/models/laughs.yaml"],
    ["--catalog", "{deep-hw}", "catalog", "models"],
    ["--catalog", "{zero-hw}", "catalog", "models"],
    ["--catalog", "{big-hw}", "catalog", "models"],
], ids=["laughs replay", "laughs validate", "deep catalog", "/dev/zero", "100 MB file"])
def test_cli_memory_stays_under_1_gb_for_hostile_catalogues(args, tmp_path) -> None:
    paths = files(tmp_path)
    for name in ("laughs-hw", "deep-hw", "zero-hw", "big-hw"):
        args = [arg.replace("{" + name + "}", str(paths[name])) for arg in args]
    done, peak = twin_peak_rss(args, tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert peak < GB, f"peak {peak / GB:.2f} GB"


def test_grpc_memory_stays_under_1_gb_for_hostile_definitions(stack, replay_req) -> None:
    definitions = "models:\n  laughs:\n" + "".join("    " + line + "\n" for line in laughs(levels=12).splitlines())
    tracemalloc.start()
    try:
        error = rpc_error(lambda: stack.controller.StartReplay(
            _request(replay_req, model="laughs", definitions_yaml=definitions), timeout=60))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert peak < GB, f"peak {peak / GB:.2f} GB"
