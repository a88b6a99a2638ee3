"""One index of catalogue entries over a search path: the package folder, then user folders.

A user folder is laid out like the package catalogue (``chips/``, ``links/``, ``servers/``,
``models/``, one YAML file per entry). Names are plain identifiers looked up in this index;
a name is never joined into a file path, so ``../x`` or a megabyte of text is simply an
unknown name. A user entry may reuse a package name only when the caller allows it.
Inline definitions (the same YAML schema as dicts, e.g. sent over gRPC) join the index last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from twin import textfile, yamltext
from twin.errors import InvalidSpec, UnknownName

KINDS = ("chips", "links", "servers", "models")
SINGULAR = {"chips": "chip", "links": "link", "servers": "server", "models": "model"}
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_FILE_BYTES = 256 * 1024  # a catalogue entry is a few dozen lines; anything larger is not one
MAX_INLINE_ENTRIES = 32  # inline definitions in one run spec


def valid_name(name: object) -> bool:
    """A catalogue name: letters, digits, '.', '-', '_', at most 64 characters, no '..'."""
    return isinstance(name, str) and NAME_RE.fullmatch(name) is not None and ".." not in name


def kind_of(kind: str) -> str:
    """The plural kind for 'chip' or 'chips' (and so on); InvalidSpec for anything else."""
    plural = kind if kind in KINDS else f"{kind}s"
    if plural not in KINDS:
        raise InvalidSpec("kind", f"must be one of {', '.join(SINGULAR.values())}")
    return plural


@dataclass(frozen=True)
class Entry:
    """One catalogue entry: where it came from (for error messages), its YAML text and its data."""

    kind: str
    name: str
    source: str  # shown in errors: 'catalog/chips/x.yaml' for the package, the user's path otherwise
    text: str
    data: Mapping[str, Any]
    package: bool


def parse_entry(kind: str, text: str, source: str, stem: str | None = None, package: bool = False) -> Entry:
    """Parse one entry's YAML; the error names the file and, where there is one, the field."""
    if len(text.encode()) > MAX_FILE_BYTES:
        raise InvalidSpec(source, f"larger than the {MAX_FILE_BYTES // 1024} KB a catalogue entry may be")
    data = yamltext.load(text, source)
    if not isinstance(data, dict):
        raise InvalidSpec(source, "must be a YAML mapping of fields")
    name = data.get("name")
    if not valid_name(name):
        raise InvalidSpec(f"{source}: name", "must be an identifier (letters, digits, '.', '-', '_'; no '..', "
                                             "at most 64 characters)")
    if stem is not None and name != stem:
        raise InvalidSpec(f"{source}: name", f"{name!r} must equal the file name {stem!r}")
    return Entry(kind, name, source, text, data, package)


def _package_entries() -> Iterable[Entry]:
    root = resources.files(__package__)
    for kind in KINDS:
        for path in sorted(root.joinpath(kind).iterdir(), key=lambda p: p.name):
            if path.name.endswith(".yaml"):
                yield parse_entry(kind, path.read_text(), f"catalog/{kind}/{path.name}", path.name[:-5], True)


def read_entry(path: Path) -> str:
    """A user's entry file: a regular file (not a FIFO, not /dev/zero) of at most MAX_FILE_BYTES."""
    return textfile.read_text(path, MAX_FILE_BYTES)


def _folder_entries(folder: Path, skip_broken: bool = False) -> Iterable[Entry]:
    """The entries of a user folder; with `skip_broken`, a file that is not a valid entry is passed over."""
    if not folder.is_dir():
        raise InvalidSpec("catalog", f"{str(folder)[:200]!r} is not a folder")
    for kind in KINDS:
        sub = folder / kind
        for path in sorted(sub.glob("*.yaml")) if sub.is_dir() else ():
            try:
                yield parse_entry(kind, read_entry(path), str(path), path.stem)
            except InvalidSpec:
                if not skip_broken:
                    raise


def inline_entries(definitions: Mapping[str, Any] | None) -> list[Entry]:
    """Entries from ``{"chips": {name: {...}}, ...}`` (or lists of dicts): a run spec's own hardware."""
    entries: list[Entry] = []
    for kind, items in (definitions or {}).items():
        plural = kind_of(str(kind))
        if items is not None and not isinstance(items, (Mapping, list)):
            raise InvalidSpec(f"definitions.{plural}", f"must be a mapping of names to entries (or a list), "
                                                       f"got {type(items).__name__}")
        values = items.values() if isinstance(items, Mapping) else items
        for i, data in enumerate(values or ()):
            source = f"definitions.{plural}[{i}]"
            entries.append(parse_entry(plural, yaml.safe_dump(data, sort_keys=False), source))
    if len(entries) > MAX_INLINE_ENTRIES:
        raise InvalidSpec("definitions", f"at most {MAX_INLINE_ENTRIES} inline entries per run")
    return entries


class Index:
    """Entries by kind and name, package first; later user entries may not shadow earlier ones silently."""

    def __init__(self, folders: Iterable[str | Path] = (), definitions: Mapping[str, Any] | None = None,
                 override: bool = False, skip_broken: bool = False):
        self._by_kind: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        for entry in _package_entries():
            self._by_kind[entry.kind][entry.name] = entry
        for folder in folders:
            for entry in _folder_entries(Path(folder), skip_broken):
                self._add(entry, override)
        for entry in inline_entries(definitions):
            self._add(entry, override=True)  # a spec's own definitions are what its author means

    def _add(self, entry: Entry, override: bool) -> None:
        known = self._by_kind[entry.kind].get(entry.name)
        if known is not None and not override and known.source != entry.source:
            raise InvalidSpec(f"{entry.source}: name", f"{SINGULAR[entry.kind]} {entry.name!r} is already defined "
                                                       f"by {known.source}; pass --catalog-override to replace it")
        self._by_kind[entry.kind][entry.name] = entry

    def names(self, kind: str) -> list[str]:
        return sorted(self._by_kind[kind_of(kind)])

    def entry(self, kind: str, name: object) -> Entry:
        kind = kind_of(kind)
        found = self._by_kind[kind].get(name) if valid_name(name) else None
        if found is None:
            raise UnknownName(SINGULAR[kind], str(name), self.names(kind))
        return found

    def user_entries(self) -> list[Entry]:
        return [e for by_name in self._by_kind.values() for e in by_name.values() if not e.package]
