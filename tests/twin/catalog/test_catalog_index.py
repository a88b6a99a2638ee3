"""The catalogue index: names are identifiers looked up in it, never paths; user folders join it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from twin.catalog import Catalog, load_model, load_server
from twin.errors import InvalidSpec, UnknownName


@pytest.mark.parametrize("name", ["../../../../tmp/x", "../models/llama2-7b", "llama2-7b/../x", "a/b", "..",
                                  "x" * 1_000_000, "", " llama2-7b", "llama2-7b\n"])
def test_a_name_that_is_not_an_identifier_is_an_unknown_name(name: str) -> None:
    with pytest.raises(UnknownName) as err:
        load_model(name)
    message = str(err.value)
    assert message.startswith("unknown model ")
    assert "llama2-7b" in message.split("known:")[1]  # the known names are suggested
    assert len(message) < 2000  # a 1 MB name is not echoed back


def test_a_server_name_with_a_path_is_unknown_not_a_traceback() -> None:
    with pytest.raises(UnknownName, match="unknown server '../models/llama2-7b'"):
        load_server("../models/llama2-7b")


def test_a_yaml_outside_the_catalogue_is_never_read(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "evil.yaml").write_text("name: evil\nsecret_field: 1\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnknownName) as err:
        load_model("../" + tmp_path.name + "/evil")
    assert "secret_field" not in str(err.value)


def _user_chip(folder: Path, name: str, **changes) -> Path:
    data = yaml.safe_load(Catalog().entry("chips", "lpu-asic-3280").text)
    data.update(name=name, **changes)
    (folder / "chips").mkdir(parents=True, exist_ok=True)
    path = folder / "chips" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_user_folder_adds_a_chip_and_a_server_using_it(tmp_path: Path) -> None:
    _user_chip(tmp_path, "my-lpu", mac_trees=64)
    server = yaml.safe_load(Catalog().entry("servers", "lpu-8x-4nm").text)
    server.update(name="my-server", chip="my-lpu")
    (tmp_path / "servers").mkdir()
    (tmp_path / "servers" / "my-server.yaml").write_text(yaml.safe_dump(server))
    cat = Catalog([tmp_path])
    spec = cat.server("my-server")
    assert spec.chip.mac_trees == 64 and spec.chips == 8
    assert cat.definitions_for(("servers", "my-server")) == {
        "servers": {"my-server": server}, "chips": {"my-lpu": yaml.safe_load((tmp_path / "chips/my-lpu.yaml").read_text())}}


def test_an_inline_link_resolves_its_calibrated_synchronisation_as_the_catalogue_entry_does(tmp_path: Path) -> None:
    """A server may write its link inline; a copy of esl-fpga (sync_cycles: calibrated) builds that link."""
    cat = Catalog()
    server = yaml.safe_load(cat.entry("servers", "lpu-8x-4nm").text)
    server.update(name="inline-link", link=yaml.safe_load(cat.entry("links", "esl-fpga").text))
    (tmp_path / "servers").mkdir()
    (tmp_path / "servers" / "inline-link.yaml").write_text(yaml.safe_dump(server))
    assert Catalog([tmp_path]).server("inline-link").link == cat.link("esl-fpga")


def test_a_user_entry_may_not_shadow_a_package_name_without_override(tmp_path: Path) -> None:
    _user_chip(tmp_path, "lpu-asic-3280", mac_trees=64)
    with pytest.raises(InvalidSpec, match="already defined by catalog/chips/lpu-asic-3280.yaml.*--catalog-override"):
        Catalog([tmp_path])
    assert Catalog([tmp_path], override=True).chip("lpu-asic-3280").mac_trees == 64


@pytest.mark.parametrize("change, field", [
    ({"bogus_field": 1}, "bogus_field"),
    ({"clock_ghz": "1 GHz"}, "clock_ghz"),
    ({"memory": {"kind": "hbm3", "stacks": -4, "channels_per_stack": 16, "capacity_per_stack_gb": 24,
                 "bandwidth_per_stack_gbps": 819, "sustained_efficiency": 0.9}}, "memory.stacks"),
    ({"lanes": 0}, "lanes"),
])
def test_a_bad_chip_file_is_refused_with_file_and_field(tmp_path: Path, change: dict, field: str) -> None:
    path = _user_chip(tmp_path, "bad-chip", **change)
    with pytest.raises(InvalidSpec) as err:
        Catalog([tmp_path]).chip("bad-chip")
    assert str(path) in str(err.value) and field in str(err.value)


def test_a_server_with_a_missing_chip_names_the_file_and_field(tmp_path: Path) -> None:
    server = yaml.safe_load(Catalog().entry("servers", "lpu-8x-4nm").text)
    server.update(name="orphan", chip="no-such-chip")
    (tmp_path / "servers").mkdir()
    (tmp_path / "servers" / "orphan.yaml").write_text(yaml.safe_dump(server))
    with pytest.raises(InvalidSpec, match=r"orphan.yaml: orphan.chip: unknown chip 'no-such-chip'"):
        Catalog([tmp_path]).server("orphan")


@pytest.mark.parametrize("name", ["../x", "a/b", "x..y"])
def test_an_entry_whose_name_is_not_an_identifier_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.yaml").write_text(yaml.safe_dump({"name": name}))
    with pytest.raises(InvalidSpec, match=r"m.yaml: name: must be an identifier"):
        Catalog([tmp_path])


def test_file_name_must_match_entry_name(tmp_path: Path) -> None:
    _user_chip(tmp_path, "one")
    (tmp_path / "chips" / "one.yaml").rename(tmp_path / "chips" / "two.yaml")
    with pytest.raises(InvalidSpec, match="must equal the file name 'two'"):
        Catalog([tmp_path])


def test_overrides_change_one_field_and_unknown_fields_are_refused() -> None:
    cat = Catalog()
    assert cat.server("lpu-8x-4nm", {"chip.mac_trees": 64}).chip.mac_trees == 64
    assert cat.server("lpu-8x-4nm", {"chip.memory.bandwidth_per_stack_gbps": 1000}).chip.memory.peak_bytes_per_s == 4e12
    with pytest.raises(InvalidSpec, match="set chip.mac_tree: no field 'mac_tree'"):
        cat.server("lpu-8x-4nm", {"chip.mac_tree": 64})
    with pytest.raises(InvalidSpec, match="hardware fields start with"):
        cat.server("lpu-8x-4nm", {"mac_trees": 64})


def test_a_user_entry_with_yaml_aliases_is_refused_before_it_expands(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    nested = ["name: laughs", "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    nested += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    (tmp_path / "models" / "laughs.yaml").write_text("\n".join(nested) + "\n")
    with pytest.raises(InvalidSpec, match=r"laughs.yaml: YAML anchors and aliases \(&, \*\) are not allowed"):
        Catalog([tmp_path])


def test_inline_definitions_nested_too_deep_are_refused() -> None:
    deep: dict = {"x": 1}
    for _ in range(40):
        deep = {"x": deep}
    with pytest.raises(InvalidSpec, match="definitions.models.0.: nested deeper than 32 levels"):
        Catalog(definitions={"models": {"deep": {"name": "deep", **deep}}})


def test_a_large_entry_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    import tracemalloc
    (tmp_path / "models").mkdir()
    with (tmp_path / "models" / "big.yaml").open("wb") as f:
        f.truncate(100 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(InvalidSpec, match="big.yaml: larger than its limit of 256 KB"):
            Catalog([tmp_path])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # not the 100 MB file


def test_a_fifo_or_device_in_a_folder_is_refused_without_blocking(tmp_path: Path) -> None:
    import os
    (tmp_path / "models").mkdir()
    os.mkfifo(tmp_path / "models" / "fifo.yaml")
    with pytest.raises(InvalidSpec, match="fifo.yaml: is not a regular file"):
        Catalog([tmp_path])
    (tmp_path / "models" / "fifo.yaml").unlink()
    (tmp_path / "models" / "zero.yaml").symlink_to("/dev/zero")
    with pytest.raises(InvalidSpec, match="zero.yaml: is not a regular file"):
        Catalog([tmp_path])
