"""What `twin calibrate` writes: a user catalogue folder (the derived chip, link and server entries
with the fitted values) and calibration.yaml, the fit's provenance.

Everything is built and checked in a temporary folder beside DIR, loaded back as a catalogue,
and only then moved into place: a refused calibration writes nothing.
"""

from __future__ import annotations

import copy
import datetime
import os
import shutil
import tempfile
from pathlib import Path

import yaml

from twin.catalog import Catalog, valid_name
from twin.errors import InvalidSpec

SUFFIX = "-calibrated"


def check_target(out_dir: str) -> Path:
    target = Path(out_dir)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidSpec("-o", f"{out_dir[:200]} exists and is not an empty folder")
    if not target.absolute().parent.is_dir():
        raise InvalidSpec("-o", f"no folder {str(target.absolute().parent)[:200]} to create it in")
    return target


def derived_names(catalog: Catalog, server: str, name: str | None, params) -> dict[str, str]:
    """The new entries' names: the server always, its chip and link when a fitted field is theirs."""
    data = catalog.entry("servers", server).data
    names = {"server": name or f"{server}{SUFFIX}"}
    for part in ("chip", "link"):
        if any(p.key.startswith(part + ".") for p in params) and isinstance(data.get(part), str):
            names[part] = f"{data[part]}{SUFFIX}"
    for kind, new in names.items():
        if not valid_name(new):
            raise InvalidSpec("--name", f"{new[:80]!r} is not a catalogue name (letters, digits, . - _; 64 at most)")
        if new in catalog.names(kind + "s"):
            raise InvalidSpec("--name", f"a {kind} named {new!r} exists already")
    return names


def provenance(server: str, model: str, tp: int, measurements, params) -> dict:
    return {"server": server, "model": model, "tp": tp,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "files": [{"file": m.path, "sha256": m.sha256, "requests": len(m.requests), "failed": m.failed,
                       "arrivals": m.arrivals, "notes": m.notes} for m in measurements],
            "bounds": {p.key: {"lo": p.lo, "hi": p.hi, "meaning": p.meaning} for p in params}}


def profile_provenance(server: str, model: str, profiles, params) -> dict:
    return {"server": server, "model": model,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "files": [{"file": p.path, "sha256": p.sha256, "layout": p.layout, "samples": len(p.samples)}
                      for p in profiles],
            "bounds": {p.key: {"lo": p.lo, "hi": p.hi, "meaning": p.meaning} for p in params}}


def _set(data: dict, dotted: str, value: float) -> None:
    *path, last = dotted.split(".")
    for key in path:
        data = data[key]
    data[last] = float(value)


def entries(catalog: Catalog, server: str, names: dict[str, str], record: dict) -> dict[str, dict]:
    """The derived entries by kind: copies of the measured hardware with the fitted fields set; the server
    carries the calibration's provenance, so every run that uses it stores where its figures came from."""
    srv = copy.deepcopy(dict(catalog.entry("servers", server).data))
    out = {"servers": srv}
    srv["name"] = names["server"]
    srv["calibration"] = _plain(stamp(record))
    srv["description"] = f"{srv.get('description', server)}; calibrated by twin calibrate (calibration.yaml)"
    for part in ("chip", "link"):
        if part in names:
            entry = copy.deepcopy(dict(catalog.entry(part + "s", srv[part]).data))
            entry["name"] = srv[part] = names[part]
            out[part + "s"] = entry
    for key, value in record["fitted"].items():
        head, _, rest = key.partition(".")
        _set(srv if head == "server" else (out[head + "s"] if head in names else srv[head]), rest, value)
    return out


def write(catalog: Catalog, target: Path, server: str, names: dict[str, str], record: dict) -> None:
    parent = target.absolute().parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    try:
        for kind, data in entries(catalog, server, names, record).items():
            (tmp / kind).mkdir()
            (tmp / kind / f"{data['name']}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        (tmp / "calibration.yaml").write_text(yaml.safe_dump(_plain(record), sort_keys=False))
        Catalog((*catalog.folders, str(tmp))).server(names["server"])  # the catalogue loads: else nothing is kept
        if target.exists():
            target.rmdir()  # empty, checked before the fit
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def stamp(record: dict) -> dict:
    """The provenance a calibrated server carries (calibration.yaml beside it has the whole record)."""
    def median(errors: dict) -> float | None:
        inner = errors.get("all", errors)  # operator profiles report per kind and over all samples
        return inner.get("median_abs_error", inner.get("tpot_median_abs_error"))
    held = record["held_out"]
    return {"by": "twin calibrate", "date": record["date"], "from_server": record["server"],
            "model": record["model"], "files": [{"file": f["file"], "sha256": f["sha256"]} for f in record["files"]],
            "fitted": dict(record["fitted"]), "left_at_default": sorted(record["left_at_default"]),
            "held_out_median_abs_error": None if not held else {
                "before": [median(f["before"]) for f in held], "after": [median(f["after"]) for f in held]}}


def _plain(value):
    """numpy scalars and tuples as plain YAML."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value


def summary_text(record: dict, names: dict[str, str], target: Path | None) -> str:
    head = (f"calibrated {record['server']} / {record['model']} on {sum(f['requests'] for f in record['files'])} "
            f"measured requests ({record['replays']} replays)")
    overall = ("all requests", record["residuals"]["before"], record["residuals"]["after"])
    return fit_text(head, overall, record, names, target, _errors)


def fit_text(head: str, overall: tuple, record: dict, names: dict[str, str], target: Path | None, errors) -> str:
    """A calibration's lines: `head`, each parameter fitted or left, the errors before and after over the
    whole set (`overall`: label, before, after) and on each held-out part (`errors` formats one pair), and
    where the catalogue went."""
    lines = [head]
    for key, value in record["fitted"].items():
        lines.append(f"  {key}: {record['defaults'][key]:.4g} -> {value:.4g}")
    for key, why in record["left_at_default"].items():
        lines.append(f"  {key}: left at {record['defaults'][key]:.4g} ({why})")
    lines.append(errors(*overall))
    for fold in record["held_out"]:
        lines.append(errors(f"held out, {fold['fold']}", fold["before"], fold["after"]))
    if target is not None:
        lines.append(f"wrote {target}: server {names['server']} (use --catalog {target} --server {names['server']})")
    return "\n".join(lines)


def _errors(label: str, before: dict, after: dict) -> str:
    def pct(d, k):
        return "-" if d[k] is None else f"{100 * d[k]:.1f} %"
    return (f"  {label}: median |error| TTFT {pct(before, 'ttft_median_abs_error')} -> "
            f"{pct(after, 'ttft_median_abs_error')}, TPOT {pct(before, 'tpot_median_abs_error')} -> "
            f"{pct(after, 'tpot_median_abs_error')}")


def stored_text(summary: dict) -> str:
    """A calibration run's stored summary (the controller's), as the local command prints it."""
    from services import profile_cmd
    record = summary["calibration"]
    text = profile_cmd.summary_text if record.get("kind") == "operator-profile" else summary_text
    entries = ", ".join(f"{kind[:-1]} {data['name']}" for kind, data in summary.get("entries", {}).items())
    return text(record, summary["names"], None) + f"\n  derives {entries} (twin --controller ... calibrate -o DIR " \
        "writes them)"


def used_in(spec: dict | None) -> list[str]:
    """One line per calibrated server a stored run's spec uses: what it was fitted to, and when."""
    lines = []
    for name, entry in ((spec or {}).get("definitions") or {}).get("servers", {}).items():
        cal = entry.get("calibration") if isinstance(entry, dict) else None
        if not isinstance(cal, dict):
            continue
        files = ", ".join(f"{f.get('file')} (sha256 {str(f.get('sha256'))[:12]})" for f in cal.get("files", []))
        fitted = ", ".join(f"{k} = {v:.4g}" for k, v in (cal.get("fitted") or {}).items()) or "nothing fitted"
        lines.append(f"{name}: calibrated from {cal.get('from_server')} on {files} ({cal.get('date')}): {fitted}")
    return lines

