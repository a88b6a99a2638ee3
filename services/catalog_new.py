"""`twin catalog new KIND NAME --from EXISTING`: start a user catalogue entry from an existing one.

    twin catalog new chip my-lpu --from lpu-asic-3280      # hw/chips/my-lpu.yaml + hw/servers/my-lpu-server.yaml

The copy keeps the source's YAML text (comments and all) with its `name:` changed, so the file
loads as it stands and every field can be edited in place. A chip alone cannot be replayed, so a
new chip also gets a server: a copy of a package server built from the source chip, pointing at
the new one.
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from twin.catalog import KINDS, SINGULAR, Catalog, kind_of, valid_name
from twin.errors import InvalidSpec

DEFAULT_FOLDER = "hw"
_NAME_LINE = re.compile(r"^name:[^\n]*$", re.MULTILINE)
_CHIP_LINE = re.compile(r"^chip:[^\n]*$", re.MULTILINE)


def _renamed(text: str, name: str, source: str, kind: str) -> str:
    """The entry's YAML text with its top-level `name:` replaced and a comment saying where it came from."""
    text = _NAME_LINE.sub(f"name: {name}", text, count=1)
    return f"# Copied from {SINGULAR[kind]} {source} by `twin catalog new`; edit the values below.\n{text}"


def _write(path: Path, text: str, force: bool) -> None:
    if path.exists() and not force:
        raise InvalidSpec(str(path), "already exists; pass --force to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        raise InvalidSpec(str(path), f"cannot be written ({exc.strerror or type(exc).__name__})") from None


def _source_catalog(obj, folder: Path) -> Catalog:
    """The run's catalogue plus the destination folder (an entry may be copied from it), broken files skipped;
    a --catalog folder that does not exist yet is the one to make, not an error."""
    from twin.catalog import default_catalog
    folders = [*default_catalog().folders]
    for f in (*obj.catalog_folders, str(folder)):
        if Path(f).is_dir() and f not in folders:
            folders.append(f)
    return Catalog(folders, override=obj.catalog_override, skip_broken=True)


def _server_using(cat: Catalog, chip: str) -> str | None:
    """A package server built from `chip` (first by name), else a user one; None when there is none."""
    users = [cat.entry("servers", n) for n in cat.names("servers")]
    users = [e for e in users if e.data.get("chip") == chip]
    users.sort(key=lambda e: (not e.package, e.name))
    return users[0].name if users else None


def _check_name(cat: Catalog, kind: str, name: str) -> None:
    if not valid_name(name):
        raise InvalidSpec("NAME", f"{name!r} must be an identifier (letters, digits, '.', '-', '_')")
    if name in cat.names(kind) and cat.entry(kind, name).package:
        raise InvalidSpec("NAME", f"{SINGULAR[kind]} {name!r} is a package entry; choose another name")


@click.command("new")
@click.argument("kind", type=click.Choice((*SINGULAR.values(), *KINDS)))
@click.argument("name")
@click.option("--from", "source", required=True, metavar="EXISTING",
              help="The entry to copy (package or user catalogue).")
@click.option("--catalog", "folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=f"The user catalogue to write to (made if missing); default: the first --catalog "
                   f"folder, else ./{DEFAULT_FOLDER}.")
@click.option("--force", is_flag=True, help="Replace files that exist.")
@click.pass_obj
def new_cmd(obj, kind: str, name: str, source: str, folder: Path | None, force: bool) -> None:
    """Copy EXISTING to a new NAME in a user catalogue; a new chip also gets a server NAME-server."""
    kind = kind_of(kind)
    folder = folder or Path(obj.catalog_folders[0] if obj.catalog_folders else DEFAULT_FOLDER)
    cat = _source_catalog(obj, folder)
    _check_name(cat, kind, name)
    entry = cat.entry(kind, source)
    files = [(folder / kind / f"{name}.yaml", _renamed(entry.text, name, source, kind))]
    server = _server_using(cat, source) if kind == "chips" else None
    if server is not None:
        _check_name(cat, "servers", f"{name}-server")
        text = _renamed(cat.entry("servers", server).text, f"{name}-server", server, "servers")
        files.append((folder / "servers" / f"{name}-server.yaml", _CHIP_LINE.sub(f"chip: {name}", text, count=1)))
    for path, _ in files:  # refuse before writing anything
        if path.exists() and not force:
            raise InvalidSpec(str(path), "already exists; pass --force to replace it")
    for path, text in files:
        _write(path, text, force)
    click.echo(f"wrote {files[0][0]}: {SINGULAR[kind]} {name}, a copy of {source}")
    if server is not None:
        click.echo(f"wrote {files[1][0]}: server {name}-server, a copy of {server} with chip {name} "
                   f"(twin --catalog {folder} replay TRACE --server {name}-server)")
    elif kind == "chips":
        click.echo(f"no server uses chip {source}: write servers/<name>.yaml with 'chip: {name}' to replay it")
