"""The hardware and model catalogue: small YAML files shipped in the package.

Add a chip, link, server or model by adding a file. Values marked ``calibrated`` (or
naming a key of ``calibration.yaml``) are filled from that one file, so every fitted
parameter lives in one place.
"""

from __future__ import annotations

from dataclasses import fields
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from twin.config import ChipSpec, HostSpec, KvCodecSpec, LinkSpec, MemorySpec, ModelSpec, NetworkSpec, ServerSpec
from twin.errors import InvalidSpec, UnknownName

KINDS = ("chips", "links", "servers", "models")


def _dir(kind: str):
    return resources.files(__package__).joinpath(kind)


def names(kind: str) -> list[str]:
    """Names of the catalogue entries of one kind (chips, links, servers, models)."""
    return sorted(p.name[:-5] for p in _dir(kind).iterdir() if p.name.endswith(".yaml"))


@lru_cache(maxsize=None)
def _raw(kind: str, name: str) -> dict[str, Any]:
    path = _dir(kind).joinpath(f"{name}.yaml")
    if not path.is_file():
        raise UnknownName(kind[:-1], name, names(kind))
    return yaml.safe_load(path.read_text())


@lru_cache(maxsize=None)
def calibration() -> dict[str, Any]:
    return yaml.safe_load(resources.files(__package__).joinpath("calibration.yaml").read_text())


def _build(cls, data: dict[str, Any], where: str):
    known = {f.name for f in fields(cls)}
    extra = set(data) - known
    if extra:
        raise InvalidSpec(f"{where}.{sorted(extra)[0]}", f"unknown field (known: {', '.join(sorted(known))})")
    try:
        return cls(**data)
    except TypeError as exc:  # a missing required field
        raise InvalidSpec(where, str(exc)) from None


def chip_from_dict(data: dict[str, Any]) -> ChipSpec:
    data, cal = dict(data), calibration()
    mem = dict(data.pop("memory"))
    if mem.get("sustained_efficiency") == "calibrated":
        mem["sustained_efficiency"] = cal["memory_sustained_efficiency"][mem["kind"]]
    if data.get("sampler_elems_per_cycle") == "calibrated":
        data["sampler_elems_per_cycle"] = cal["sampler_elems_per_cycle"][data["kind"]]
    data["memory"] = _build(MemorySpec, mem, f"{data.get('name')}.memory")
    if data.get("kv_codec") is not None:
        codec = {k: cal["kv_codec"][k] if v == "calibrated" else v for k, v in data["kv_codec"].items()}
        data["kv_codec"] = _build(KvCodecSpec, codec, f"{data.get('name')}.kv_codec")
    return _build(ChipSpec, data, str(data.get("name")))


def server_from_dict(data: dict[str, Any]) -> ServerSpec:
    data = dict(data)
    host = dict(data.pop("host"))
    if isinstance(host.get("step_overhead_s"), str):
        host["step_overhead_s"] = calibration()[host["step_overhead_s"]]
    data["host"] = _build(HostSpec, host, f"{data.get('name')}.host")
    if data.get("network") is not None:
        data["network"] = _build(NetworkSpec, data["network"], f"{data.get('name')}.network")
    data["chip"] = load_chip(data["chip"]) if isinstance(data["chip"], str) else chip_from_dict(data["chip"])
    data["link"] = load_link(data["link"]) if isinstance(data["link"], str) else _build(LinkSpec, data["link"], "link")
    return _build(ServerSpec, data, str(data.get("name")))


@lru_cache(maxsize=None)
def load_chip(name: str) -> ChipSpec:
    return chip_from_dict(_raw("chips", name))


@lru_cache(maxsize=None)
def load_link(name: str) -> LinkSpec:
    return _build(LinkSpec, _raw("links", name), name)


@lru_cache(maxsize=None)
def load_server(name: str) -> ServerSpec:
    return server_from_dict(_raw("servers", name))


@lru_cache(maxsize=None)
def load_model(name: str) -> ModelSpec:
    return _build(ModelSpec, _raw("models", name), name)
