"""`twin catalog`: list, show, validate and import catalogue entries (chips, links, servers, models).

    twin catalog                      # every kind, as tables
    twin catalog chips                # one kind
    twin catalog show chip lpu-asic-3280 > my-hw/chips/my-lpu.yaml
    twin catalog validate my-hw/chips/my-lpu.yaml
    twin catalog import-model config.json --name my-model [-o FILE]
    twin catalog new chip my-lpu --from lpu-asic-3280 [--catalog DIR]
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from twin.catalog import KINDS, SINGULAR, Catalog, kind_of
from twin.catalog.hf import MAX_CONFIG_BYTES, model_from_hf_config
from twin import textfile
from twin.errors import InvalidSpec

KIND_WORDS = tuple(KINDS) + tuple(SINGULAR.values())


class CatalogGroup(click.Group):
    """`twin catalog chips` still lists one kind: a kind word is read as `list KIND`."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        if args and args[0] in KIND_WORDS:
            args = ["list", *args]
        return super().resolve_command(ctx, args)


@click.group("catalog", cls=CatalogGroup, invoke_without_command=True)
@click.pass_context
def catalog(ctx: click.Context) -> None:
    """List, show, validate or import catalogue entries (package, --catalog folders, TWIN_CATALOG_PATH)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_cmd, kind=None)


@catalog.command("list")
@click.argument("kind", required=False, type=click.Choice(KIND_WORDS))
@click.pass_obj
def list_cmd(obj, kind: str | None) -> None:
    """Entries of every kind, or of one KIND."""
    from services import render
    for k in [kind_of(kind)] if kind else KINDS:
        obj.console.print(render.catalog_table(k, obj.catalog))


@catalog.command("show")
@click.argument("kind", type=click.Choice(KIND_WORDS))
@click.argument("name")
@click.pass_obj
def show_cmd(obj, kind: str, name: str) -> None:
    """Print the YAML that defines one entry: copy it into a --catalog folder and edit it."""
    entry = obj.catalog.entry(kind, name)
    click.echo(entry.text.rstrip("\n"))


@catalog.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--kind", type=click.Choice(KIND_WORDS), default=None,
              help="The entry's kind; default: the name of the folder holding FILE (chips, links, ...).")
@click.pass_obj
def validate_cmd(obj, file: Path, kind: str | None) -> None:
    """Check one catalogue file as the loader would; exit 0 and say what it defines, or name the field."""
    from twin.catalog.index import parse_entry, read_entry
    kind = kind_of(kind or _kind_from_folder(file))
    if not file.exists():
        raise InvalidSpec(str(file), "no such file")
    entry = parse_entry(kind, read_entry(file), str(file), file.stem)
    root = file.parent.parent  # a file inside a catalogue layout may refer to its siblings
    folders = [*obj.catalog.folders, *([str(root)] if file.parent.name == kind else [])]
    # The report is on FILE: a broken sibling is passed over (a reference to it is an unknown name).
    cat = Catalog(folders, {kind: {entry.name: dict(entry.data)}}, override=True, skip_broken=True)
    try:
        spec = {"chips": cat.chip, "links": cat.link, "servers": cat.server, "models": cat.model}[kind](entry.name)
    except InvalidSpec as exc:  # name the file, not the inline copy we validated
        raise InvalidSpec(str(file) + ": " + exc.field.split(": ", 1)[-1], exc.message) from None
    click.echo(f"{file}: a valid {SINGULAR[kind]} {spec.name!r}")


def _kind_from_folder(file: Path) -> str:
    if file.parent.name in KINDS:
        return file.parent.name
    raise InvalidSpec(str(file), "give --kind (chip, link, server or model): the file is not in a "
                                 "chips/, links/, servers/ or models/ folder")


@catalog.command("import-model")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Catalogue name of the new model (letters, digits, . - _).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the YAML; default: models/NAME.yaml in the first --catalog folder, "
                   "else print it.")
@click.pass_obj
def import_model_cmd(obj, config: Path, name: str, output: Path | None) -> None:
    """Write a model YAML from a local Hugging Face config.json (Llama, Mistral, Mixtral, OPT, Qwen2/3 and their
    MoE, DeepSeek-V2/V3, Gemma 2/3), with the parameter count its dimensions give."""
    if not config.exists():
        raise InvalidSpec(str(config), "no such file")
    text = textfile.read_text(config, MAX_CONFIG_BYTES)
    model = model_from_hf_config(_json(text, str(config)), name, str(config))
    text = "# Imported from a Hugging Face config.json by `twin catalog import-model`.\n" + \
        yaml.safe_dump(model, sort_keys=False)
    if output is None and obj.catalog_folders:  # the folder may not exist yet: do not load it, make it
        output = Path(obj.catalog_folders[0]) / "models" / f"{name}.yaml"
        _make_folder(output.parent)
    if output is None:
        click.echo(text.rstrip("\n"))
        return
    if not output.parent.is_dir():
        raise InvalidSpec(str(output), f"folder {str(output.parent)[:200]!r} does not exist")
    try:
        output.write_text(text)
    except OSError as exc:
        raise InvalidSpec(str(output), f"cannot be written ({exc.strerror or type(exc).__name__})") from None
    click.echo(f"wrote {output}", err=True)


from services.catalog_new import new_cmd  # noqa: E402  (a command of this group, in its own module)

catalog.add_command(new_cmd)


def _json(text: str, where: str):
    """A config.json's data; one line naming the file for bad JSON, a number too long, or nesting too deep."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSpec(where, f"not valid JSON (line {exc.lineno})") from None
    except ValueError:  # an integer of more than 4,300 digits
        raise InvalidSpec(where, "holds a number too long to read (more than 4,300 digits)") from None
    except RecursionError:
        raise InvalidSpec(where, "is nested too deeply to be a config.json") from None


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidSpec(str(folder), f"cannot be made ({exc.strerror or type(exc).__name__})") from None
