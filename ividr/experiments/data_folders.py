"""The datasets of a sweep over existing folders (``ividr sweep --data DIR``, docs/design.md §6).

A folder of dataset folders is read as one knob's values: each dataset states its knob values in
its ``meta.json`` or in its folder name (simgen's default name, or ``<knob>_<value>`` as in the iDCF
layout's ``gamma_10``); the knob that varies across them is the sweep's axis
(:func:`data_folders`, :func:`data_sweep_values`), and a run finds its dataset again by its value
(:func:`data_folder`). A single dataset is a sweep of one column, ``data``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from ividr.experiments.errors import SweepError
from ividr.experiments.grid import DATA_VALUE_LABEL, DEFAULT_KNOB, format_value

__all__ = ["data_folder", "data_folders", "data_sweep_values", "dataset_knobs", "name_knobs"]


#: simgen's default folder name (:attr:`simulator.config.SimConfig.name`):
#: ``<preset>_u<users>_i<items>_gamma<g>_seed<s>`` then ``_<knob-with-dashes><value>`` for each
#: knob that differs from its preset.
_SIMGEN_NAME = re.compile(
    r"^(?P<preset>[a-z][a-z0-9-]*)_u(?P<n_users>\d+)_i(?P<n_items>\d+)"
    r"_gamma(?P<gamma>[^_]+)_seed(?P<seed>\d+)(?P<rest>(?:_[^_]+)*)$"
)


def _number_or_text(text: str) -> Any:
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


def name_knobs(name: str) -> dict[str, Any]:
    """The knob values a dataset folder's name states: simgen's default name
    (``idcf_u2000_i300_gamma10_seed0_alpha0.2``) or ``<knob>_<value>`` (``gamma_10``, the iDCF
    layout); empty for any other name."""
    from simulator.config import SimConfig

    match = _SIMGEN_NAME.match(name)
    if match:
        knobs: dict[str, Any] = {"preset": match["preset"]}
        for key in ("n_users", "n_items", "gamma", "seed"):
            knobs[key] = _number_or_text(match[key])
        for part in filter(None, match["rest"].split("_")):
            # "item-mixing1" -> item_mixing = 1 ; "w-priorgaussian" -> w_prior = "gaussian"
            for f in dataclasses.fields(SimConfig):
                stem = f.name.replace("_", "-")
                if part.startswith(stem) and len(part) > len(stem):
                    knobs[f.name] = _number_or_text(part[len(stem) :])
                    break
        return knobs
    prefix, sep, tail = name.rpartition("_")
    if sep and prefix:
        value = _number_or_text(tail)
        if not isinstance(value, str):
            return {prefix: value}
    return {}


def meta_knobs(folder: Path) -> dict[str, Any] | None:
    """The knob values a simgen dataset's meta.json records (None when it has no meta.json)."""
    path = folder / "meta.json"
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SweepError(f"{path}: not valid JSON ({exc})") from None
    knobs = dict(meta.get("config") or {})
    for key in ("preset", "seed", "n_users", "n_items"):
        if key in meta:
            knobs.setdefault(key, meta[key])
    return knobs


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return str(a) == str(b)
    # names hold values as simgen prints them (f"{value:g}"): compare at that precision
    return f"{float(a):g}" == f"{float(b):g}"


def dataset_knobs(folder: Path) -> dict[str, Any]:
    """A dataset folder's knob values: its meta.json's, else its name's (:func:`name_knobs`).

    Raises
    ------
    SweepError
        When the name states a value that its meta.json contradicts (``gamma_99`` holding the
        data of gamma 0): the folder would be run as what it is not.
    """
    from_name = name_knobs(folder.name)
    from_meta = meta_knobs(folder)
    if from_meta is None:
        return from_name
    for knob, value in from_name.items():
        if knob in from_meta and not _same_value(value, from_meta[knob]):
            raise SweepError(
                f"{folder}: its name says {knob} {format_value(value)} but its meta.json says "
                f"{format_value(from_meta[knob])}; rename the folder"
            )
    return from_meta


def _varying(found: list[tuple[Path, dict[str, Any]]]) -> list[str]:
    """Knobs every dataset states and not all with the same value."""
    common = set.intersection(*(set(k) for _, k in found)) if found else set()
    return sorted(k for k in common if len({format_value(knobs[k]) for _, knobs in found}) > 1)


def _choose_knob(path: Path, found: list[tuple[Path, dict[str, Any]]], knob: str | None) -> str:
    if knob is not None:
        return knob
    varying = _varying(found)
    if len(varying) == 1:
        return varying[0]
    if not varying:  # one dataset, or all alike: the knob its <knob>_<value> name states
        named = {next(iter(k)) for _, k in found if len(k) == 1}
        if len(named) == 1:
            return named.pop()
        if len(found) == 1 and DEFAULT_KNOB in found[0][1]:
            return DEFAULT_KNOB
    raise SweepError(
        f"{path}: the datasets differ in {', '.join(varying) or 'no knob'}; pass --knob to say "
        "which one the sweep is over"
    )


def data_folders(data: str | Path, knob: str | None = None) -> tuple[str, dict[str, Path]]:
    """The knob of a folder of datasets and each value's folder (keyed by :func:`format_value`).

    Each sub-folder that holds a dataset identifies itself (:func:`dataset_knobs`): by its
    meta.json (simgen), else by its name (``gamma_10``, the iDCF layout). The knob is ``knob``,
    else the one knob the datasets differ in. Sub-folders that do not state the knob are
    skipped.

    Raises
    ------
    SweepError
        When a name and its meta.json disagree, two datasets have the same value, the datasets
        also differ in another knob, a value is not a number, or no knob can be told.
    """
    from simulator.loaders import detect_format

    path = Path(data)
    found: list[tuple[Path, dict[str, Any]]] = []
    for sub in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            detect_format(sub)
        except ValueError:
            continue
        knobs = dataset_knobs(sub)
        if knobs:
            found.append((sub, knobs))
    if not found:
        raise SweepError(
            f"{path}: expected a dataset, or sub-folders holding datasets that name their knob "
            "values (a simgen meta.json, simgen's default names, or <knob>_<value>) (found none)"
        )
    chosen = _choose_knob(path, found, knob)
    with_knob = [(sub, knobs) for sub, knobs in found if chosen in knobs]
    if not with_knob:
        raise SweepError(f"{path}: no dataset here states a value of {chosen!r}")
    others = [k for k in _varying(with_knob) if k != chosen]
    if others:
        raise SweepError(
            f"{path}: the datasets differ in {', '.join(others)} as well as {chosen}; a sweep "
            "compares the values of one knob"
        )
    folders: dict[str, Path] = {}
    for sub, knobs in with_knob:
        value = knobs[chosen]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SweepError(f"{sub}: {chosen} {value!r} is not a number")
        key = format_value(_number_or_text(format_value(float(value))))
        if key in folders:
            raise SweepError(f"{path}: two datasets have {chosen} {key}: {folders[key]}, {sub}")
        folders[key] = sub
    return chosen, folders


def data_sweep_values(data: str | Path, knob: str | None = None) -> tuple[str, tuple[Any, ...]]:
    """The knob and values of a ``--data`` folder.

    A folder that is itself a dataset gives ``("data", ("data",))`` (after checking that its
    name and meta.json agree); a folder of datasets gives the knob and the sorted values of
    :func:`data_folders`.

    Raises
    ------
    SweepError
        When the folder is neither, or its datasets do not identify themselves consistently.
    """
    from simulator.loaders import detect_format

    path = Path(data)
    if not path.is_dir():
        raise SweepError(f"{path}: not a directory")
    with contextlib.suppress(ValueError):
        detect_format(path)
        dataset_knobs(path)  # a name that its meta.json contradicts is refused here too
        return DATA_VALUE_LABEL, (DATA_VALUE_LABEL,)
    name, folders = data_folders(path, knob)
    values = sorted(_number_or_text(key) for key in folders)
    return name, tuple(values)


def data_folder(data: str | Path, knob: str, value: Any) -> Path:
    """The folder of ``data`` holding the dataset of ``knob`` = ``value`` (:func:`data_folders`)."""
    _, folders = data_folders(data, knob)
    key = format_value(value)
    if key not in folders:
        raise SweepError(f"{data}: no dataset of {knob} {key} (found {sorted(folders)})")
    return folders[key]
