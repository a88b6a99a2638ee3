"""The hardware and model catalogue: small YAML files, in the package and in user folders.

Add a chip, link, server or model by adding a file (to a folder passed as ``--catalog`` or
listed in ``TWIN_CATALOG_PATH``). Values marked ``calibrated`` (or naming a key of
``calibration.yaml``) are filled from that one file, so every fitted parameter lives in one
place. Errors name the file and the field.

    cat = Catalog(["./my-hw"])
    server = cat.server("my-lpu-systolic", overrides={"chip.mac_trees": 64})
"""

from __future__ import annotations

import copy
import dataclasses
import os
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable, Mapping

import yaml

from twin.catalog.index import KINDS, SINGULAR, Entry, Index, kind_of, valid_name
from twin.config import (ChipSpec, HostSpec, KvCodecSpec, LinkSpec, MemorySpec, ModelSpec, NetworkSpec, ServerSpec,
                         build_spec)
from twin.errors import InvalidSpec, TwinError, UnknownName
from twin.yamltext import SAFE_LOADER

__all__ = ["KINDS", "SINGULAR", "Catalog", "default_catalog", "names", "load_chip", "load_link", "load_server",
           "load_model", "calibration", "kind_of", "valid_name", "Entry"]

CATALOG_PATH_ENV = "TWIN_CATALOG_PATH"


@lru_cache(maxsize=None)
def calibration() -> dict[str, Any]:
    return yaml.load(resources.files(__package__).joinpath("calibration.yaml").read_text(), Loader=SAFE_LOADER)


_build = build_spec


def gpu_stack(name: str):
    """The GPU serving stack `name` (twin.serving.stack), its figures from calibration.yaml ``gpu_stacks``."""
    from twin.serving.stack import stack_from_dict
    return stack_from_dict(name, calibration().get("gpu_stacks", {}).get(name))


def _calibrated(value: Any, table: Mapping[str, Any], key: str, where: str) -> Any:
    """``calibrated`` -> table[key]; ``calibrated:other`` -> table[other]; anything else as given."""
    if not (isinstance(value, str) and value.startswith("calibrated")):
        return value
    wanted = value.partition(":")[2] or key
    if wanted not in table:
        raise InvalidSpec(where, f"no calibrated value {wanted!r} (calibration.yaml has: {', '.join(table)})")
    return table[wanted]


def _mapping(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidSpec(where, "must be a mapping of fields")
    return dict(data)


def link_from_dict(data: Mapping[str, Any], where: str = "link") -> LinkSpec:
    """A LinkSpec from its YAML mapping, a calibrated ESL synchronisation resolved (a catalogue entry or a
    server's inline link alike)."""
    data = _mapping(data, where)
    if "sync_cycles" in data:
        data["sync_cycles"] = _calibrated(data["sync_cycles"], calibration()["esl_sync_cycles"],
                                          str(data.get("name")), f"{where}.sync_cycles")
    return _build(LinkSpec, data, where)


def chip_from_dict(data: Mapping[str, Any], where: str = "chip") -> ChipSpec:
    from twin.hw.engines import engines_from_dicts
    from twin.energy import energy_from_dict
    data, cal = _mapping(data, where), calibration()
    mem = _mapping(data.pop("memory", None), f"{where}.memory")
    mem["sustained_efficiency"] = _calibrated(mem.get("sustained_efficiency"), cal["memory_sustained_efficiency"],
                                              str(mem.get("kind")), f"{where}.memory.sustained_efficiency")
    data["sampler_elems_per_cycle"] = _calibrated(data.get("sampler_elems_per_cycle"), cal["sampler_elems_per_cycle"],
                                                  str(data.get("kind")), f"{where}.sampler_elems_per_cycle")
    data["memory"] = _build(MemorySpec, mem, f"{where}.memory")
    if "kernel_launch_s" in data:
        data["kernel_launch_s"] = _calibrated(data["kernel_launch_s"], cal["kernel_launch_s"], str(data.get("kind")),
                                              f"{where}.kernel_launch_s")
    if data.get("kv_codec") is not None:
        codec = _mapping(data["kv_codec"], f"{where}.kv_codec")
        codec = {k: _calibrated(v, cal["kv_codec"], k, f"{where}.kv_codec.{k}") for k, v in codec.items()}
        data["kv_codec"] = _build(KvCodecSpec, codec, f"{where}.kv_codec")
    data["engines"] = engines_from_dicts(_clocked(data.get("engines"), data.get("clock_ghz")), f"{where}.engines", cal)
    energy = _mapping(data.get("energy"), f"{where}.energy") if data.get("energy") is not None else None
    leakage = energy.pop("static_w_per_mm2", None) if energy is not None else None
    data["energy"] = energy_from_dict(energy if leakage is None else {**energy, "static_w": 0.0}, f"{where}.energy", cal)
    chip = _build(ChipSpec, data, where)
    return chip if leakage is None else _leaking(chip, leakage, f"{where}.energy.static_w_per_mm2")


def _clocked(engines: Any, clock_ghz: Any) -> Any:
    """Engines that give no clock of their own run at the chip's (a template's one clock knob)."""
    if not isinstance(engines, list):
        return engines or ()
    return [{**e, "clock_ghz": clock_ghz} if isinstance(e, dict) and "clock_ghz" not in e else e for e in engines]


def _leaking(chip: ChipSpec, w_per_mm2: Any, where: str) -> ChipSpec:
    """A template's logic leakage: a density over its modelled compute core, so it grows with the design."""
    from twin.area import die_area_mm2
    if not (isinstance(w_per_mm2, (int, float)) and not isinstance(w_per_mm2, bool) and w_per_mm2 >= 0):
        raise InvalidSpec(where, f"must be a number of W per mm² >= 0, got {w_per_mm2!r}")
    area = die_area_mm2(chip)
    if area is None or chip.die_area_mm2 is not None:
        raise InvalidSpec(where, "needs a chip whose area the per-unit model gives (an ASIC without die_area_mm2)")
    return dataclasses.replace(chip, energy=dataclasses.replace(chip.energy, static_w=w_per_mm2 * area))


def _set_path(data: dict, path: list[str], value: Any, where: str) -> None:
    head, *rest = path
    if head not in data:
        raise InvalidSpec(where, f"no field {head!r} to set (fields: {', '.join(sorted(map(str, data)))})")
    if rest and isinstance(data[head], list):  # a list of named items (a chip's engines): chip.engines.NAME.rows
        named = {item.get("name"): item for item in data[head] if isinstance(item, dict)}
        if rest[0] not in named or len(rest) < 2:
            raise InvalidSpec(where, f"{head}.NAME.FIELD names one of {head}: {', '.join(map(str, named))}")
        _set_path(named[rest[0]], rest[1:], value, where)
    elif rest:
        if not isinstance(data[head], dict):
            raise InvalidSpec(where, f"{head!r} has no sub-fields")
        _set_path(data[head], rest, value, where)
    else:
        data[head] = value


class Catalog:
    """Chips, links, servers and models by name, from the package and the given folders/definitions."""

    def __init__(self, folders: Iterable[str] = (), definitions: Mapping[str, Any] | None = None,
                 override: bool = False, skip_broken: bool = False):
        self.folders = tuple(str(f) for f in folders)
        self.index = Index(self.folders, definitions, override, skip_broken)

    def names(self, kind: str) -> list[str]:
        return self.index.names(kind)

    def entry(self, kind: str, name: object) -> Entry:
        return self.index.entry(kind, name)

    def _data(self, kind: str, name: object, overrides: Mapping[str, Any], prefix: str) -> tuple[dict, str]:
        entry = self.entry(kind, name)
        data = copy.deepcopy(dict(entry.data))
        for key, value in overrides.items():
            if key.startswith(prefix + "."):
                _set_path(data, key[len(prefix) + 1:].split("."), value, f"set {key}")
        return data, entry.source

    def chip(self, name: object, overrides: Mapping[str, Any] = {}) -> ChipSpec:
        data, source = self._data("chips", name, overrides, "chip")
        return chip_from_dict(data, f"{source}: {data['name']}")

    def link(self, name: object, overrides: Mapping[str, Any] = {}) -> LinkSpec:
        data, source = self._data("links", name, overrides, "link")
        return link_from_dict(data, f"{source}: {data['name']}")

    def model(self, name: object, overrides: Mapping[str, Any] = {}) -> ModelSpec:
        data, source = self._data("models", name, overrides, "model")
        return _build(ModelSpec, data, f"{source}: {data['name']}")

    def server(self, name: object, overrides: Mapping[str, Any] = {}) -> ServerSpec:
        _check_override_keys(overrides)
        data, source = self._data("servers", name, overrides, "server")
        where = f"{source}: {data['name']}"
        _mapping(data.pop("calibration", {}), f"{where}.calibration")  # twin calibrate's provenance, not a field
        template_space(data, where)  # checked here; a search reads it (twin.explore.space)
        data.pop("template", None)
        host = _mapping(data.pop("host", None), f"{where}.host")
        overhead = host.get("step_overhead_s")
        if isinstance(overhead, str) and not overhead.startswith("calibrated"):
            overhead = f"calibrated:{overhead}"  # a key of calibration.yaml named directly
        host["step_overhead_s"] = _calibrated(overhead, calibration(), "host_step_overhead_s",
                                              f"{where}.host.step_overhead_s")
        data["host"] = _build(HostSpec, host, f"{where}.host")
        if data.get("network") is not None:
            data["network"] = _build(NetworkSpec, _mapping(data["network"], f"{where}.network"), f"{where}.network")
        data["chip"] = self._part("chips", data.get("chip"), overrides, where)
        data["link"] = self._part("links", data.get("link"), overrides, where)
        return _build(ServerSpec, data, where)

    def _part(self, kind: str, ref: Any, overrides: Mapping[str, Any], where: str):
        """A server's chip or link: a catalogue name or an inline mapping."""
        build = self.chip if kind == "chips" else self.link
        field = SINGULAR[kind]
        if isinstance(ref, Mapping):
            inline = f"{where}.{field}"
            return (chip_from_dict if kind == "chips" else link_from_dict)(ref, inline)
        try:
            return build(ref, overrides)
        except UnknownName as exc:
            raise InvalidSpec(f"{where}.{field}", str(exc)) from None

    def definitions_for(self, *refs: tuple[str, str]) -> dict[str, dict[str, Any]]:
        """The user (non-package) entries that `refs` ((kind, name) pairs) use, as inline definitions."""
        out: dict[str, dict[str, Any]] = {}
        todo = list(refs)
        while todo:
            kind, name = todo.pop()
            entry = self.entry(kind, name)
            if kind == "servers":
                todo += [(k, entry.data[SINGULAR[k]]) for k in ("chips", "links")
                         if isinstance(entry.data.get(SINGULAR[k]), str)]
            if not entry.package:
                out.setdefault(kind, {})[name] = dict(entry.data)
        return out


OVERRIDE_PREFIXES = ("chip.", "link.", "server.", "model.")


def template_space(data: Mapping[str, Any], where: str) -> dict[str, str]:
    """A template server's `template:` mapping (hardware or serving field -> a --space range or choice), as
    `twin search` reads it; {} for a plain server. The values are parsed where they are searched."""
    space = data.get("template")
    if space is None:
        return {}
    if not isinstance(space, Mapping) or not space or not all(
            isinstance(k, str) and isinstance(v, (str, int, float)) and not isinstance(v, bool)
            for k, v in space.items()):
        raise InvalidSpec(f"{where}.template", "must map fields to ranges or choices (chip.mac_trees: 8..128)")
    return {k: str(v) for k, v in space.items()}


def _check_override_keys(overrides: Mapping[str, Any]) -> None:
    for key in overrides:
        if not key.startswith(OVERRIDE_PREFIXES):
            raise InvalidSpec(f"set {key}", f"hardware fields start with one of {', '.join(OVERRIDE_PREFIXES)}")


@lru_cache(maxsize=8)
def _cached(folders: tuple[str, ...]) -> Catalog:
    return Catalog(folders)


def default_catalog() -> Catalog:
    """The package catalogue plus the folders in TWIN_CATALOG_PATH (separated like PATH)."""
    path = os.environ.get(CATALOG_PATH_ENV, "")
    return _cached(tuple(p for p in path.split(os.pathsep) if p))


def catalog_for(definitions: Mapping[str, Any] | None = None) -> Catalog:
    if not definitions:
        return default_catalog()
    return Catalog(default_catalog().folders, definitions)


def names(kind: str) -> list[str]:
    return default_catalog().names(kind)


def load_chip(name: str) -> ChipSpec:
    return default_catalog().chip(name)


def load_link(name: str) -> LinkSpec:
    return default_catalog().link(name)


def load_server(name: str) -> ServerSpec:
    return default_catalog().server(name)


def load_model(name: str) -> ModelSpec:
    return default_catalog().model(name)


__all__ += ["catalog_for", "chip_from_dict", "TwinError"]
