"""The committed generated code matches the protos, and every proto field says its unit."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
PROTOS = sorted((ROOT / "protos" / "twin_api" / "v1").glob("*.proto"))
FIELD = re.compile(r"^\s*(optional |repeated )?[\w.<>, ]+ \w+ = \d+;")


def committed_module(proto: Path, suffix: str):
    return importlib.import_module(f"twin_api.v1.{proto.stem}{suffix}")


def fresh_descriptors(tmp_path: Path) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    """What protoc makes of the .proto files today (any grpcio-tools release: descriptors, not text)."""
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the test extra) compiles the protos")
    out = tmp_path / "set.pb"
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", str(ROOT / "protos"),
                    f"--descriptor_set_out={out}", *(str(p.relative_to(ROOT / "protos")) for p in PROTOS)],
                   check=True, cwd=ROOT)
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    return {f.name: without_json_names(f) for f in files}


def without_json_names(file: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorProto:
    """protoc's descriptor set spells out each field's default JSON name; the Python generator drops it."""
    def clear(messages) -> None:
        for message in messages:
            for field in message.field:
                field.ClearField("json_name")
            clear(message.nested_type)
    clear(file.message_type)
    return file


def test_generated_messages_match_the_protos(tmp_path: Path) -> None:
    """The committed _pb2 modules carry exactly the descriptors the .proto files compile to."""
    fresh = fresh_descriptors(tmp_path)
    assert sorted(fresh) == sorted(f"twin_api/v1/{p.name}" for p in PROTOS)
    for proto in PROTOS:
        committed = descriptor_pb2.FileDescriptorProto.FromString(
            committed_module(proto, "_pb2").DESCRIPTOR.serialized_pb)
        assert committed == fresh[f"twin_api/v1/{proto.name}"], \
            f"{proto.name} changed: regenerate with protos/generate.sh (README, Services)"


def test_generated_stubs_serve_every_method(tmp_path: Path) -> None:
    """Each service's stub, servicer and registration exist and name every method of the proto."""
    for name, file in fresh_descriptors(tmp_path).items():
        grpc_module = committed_module(Path(name), "_pb2_grpc")
        source = Path(grpc_module.__file__).read_text()
        for service in file.service:
            for attr in (f"{service.name}Stub", f"{service.name}Servicer", f"add_{service.name}Servicer_to_server"):
                assert hasattr(grpc_module, attr), f"{name}: no {attr}"
            servicer = getattr(grpc_module, f"{service.name}Servicer")
            for method in service.method:
                assert f"/{file.package}.{service.name}/{method.name}" in source
                assert callable(getattr(servicer, method.name, None)), f"{service.name}.{method.name}"


def floor(requirement: str) -> tuple[int, ...]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(d for d in deps if re.match(rf"{re.escape(requirement)}\s*>=", d))
    return tuple(int(x) for x in spec.split(">=")[1].split("."))


def test_runtime_floors_admit_the_generated_code() -> None:
    """The grpcio and protobuf floors of pyproject.toml are at least the releases the code was made with."""
    grpc_made = re.search(r"GRPC_GENERATED_VERSION = '([\d.]+)'",
                          (ROOT / "twin_api" / "v1" / "cluster_pb2_grpc.py").read_text()).group(1)
    pb_made = re.search(r"Protobuf Python Version: ([\d.]+)",
                        (ROOT / "twin_api" / "v1" / "cluster_pb2.py").read_text()).group(1)
    assert floor("grpcio") >= tuple(int(x) for x in grpc_made.split("."))
    assert floor("protobuf") >= tuple(int(x) for x in pb_made.split("."))
    pinned = re.search(r'GRPC_TOOLS="([\d.]+)"', (ROOT / "protos" / "generate.sh").read_text()).group(1)
    assert pinned == grpc_made, "protos/generate.sh pins the grpcio-tools release the committed code was made with"
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    assert f"grpcio-tools=={pinned}" in extra, "the test extra installs the generator the code was made with"


# A number's comment names its unit in parentheses ("(simulated seconds)", "(tokens)", "(count)")
# or says "(..., no unit)"; other fields say what kind of value they hold ("(name, no unit)", "(text)").
UNIT_WORDS = {"seconds", "bytes", "gb", "kb", "tokens", "count", "fraction", "requests", "second", "replicas",
              "factor", "utc", "no unit", "units", "unit of", "watts", "joules", "mm2", "hz", "ghz"}
KIND_WORDS = {"name", "names", "id", "ids", "text", "flag", "object", "see", "index", "number", "time"}
NUMERIC = re.compile(r"^\s*(optional |repeated )?(u?int(32|64)|s?fixed(32|64)|sint(32|64)|double|float) ")
MESSAGE = re.compile(r"^\s*(optional |repeated )?[A-Z]")  # a message field: its own fields carry units


def unit_words(comment: str) -> set[str]:
    """Unit or kind words inside the comment's parentheses."""
    text = comment[comment.find("("):comment.rfind(")") + 1].lower() if "(" in comment else ""
    return {word for word in UNIT_WORDS | KIND_WORDS if re.search(rf"\b{re.escape(word)}\b", text)}


def says_its_unit(line: str) -> bool:
    if "//" not in line:
        return False
    if MESSAGE.match(line):
        return True
    words = unit_words(line.split("//", 1)[1])
    return bool(words & UNIT_WORDS) if NUMERIC.match(line) else bool(words)


@pytest.mark.parametrize("proto", PROTOS, ids=lambda p: p.name)
def test_every_field_is_commented_with_its_unit(proto: Path) -> None:
    fields = [line.strip() for line in proto.read_text().splitlines() if FIELD.match(line)]
    missing = [line for line in fields if not says_its_unit(line)]
    assert not missing, f"fields whose comment names no unit in {proto.name}: {missing}"


@pytest.mark.parametrize("line, ok", [("double arrival_s = 2;  // arrival time (simulated seconds)", True),
                                      ("uint32 tp = 4;  // chips per replica (count); unset: all", True),
                                      ("double arrival_s = 2;  // arrival time", False),
                                      ("double arrival_s = 2;  // arrival time (name)", False),
                                      ("uint32 n = 1;", False),
                                      ("string model = 1;  // the model (name, no unit)", True),
                                      ("string model = 1;  // the model", False),
                                      ("TraceOptions options = 2;  // how to read it", True)])
def test_the_unit_check_itself(line: str, ok: bool) -> None:
    assert says_its_unit(line) is ok


def test_generated_imports_are_package_relative() -> None:
    text = (ROOT / "twin_api" / "v1" / "cluster_pb2_grpc.py").read_text()
    assert "from twin_api.v1 import cluster_pb2" in text
