"""``simgen``: generate a confounded recommendation dataset (docs/design.md §2, §3, §7).

Examples::

    simgen                                # preset ividr -> ./simgen-out/ividr_u10000_i1000_...
    simgen --users 10000 --gamma 10
    simgen --preset ividr-paper --gamma 10   # the IViDR paper's own Table-5 draw, replayed
    simgen --preset idcf --seed 3 --out data/idcf-s3 --overwrite
    simgen --preset idcf --format idcf,recbole   # also iDCF's files in DIR/idcf/, RecBole's in
                                                 # DIR/recbole/ (simulator/exporters.py)

Bad input exits with code 2 and one line naming the option and its allowed range, before
anything is written; a failure while generating or writing exits with code 1.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from simulator.command import OneLineCommand, spec_option, usage_error
from simulator.config import PRESETS, ConfigError, SimConfig
from simulator.generate import generate
from simulator.simulated import SimulatedData
from simulator.version import __version__
from simulator.writer import WRITE_FORMATS, OutputExistsError, check_output_dir, write_dataset

#: Default parent of the output directory.
DEFAULT_OUT_ROOT = Path("simgen-out")

#: The knobs simgen exposes, in its --help order, and their options; each option is made from the
#: knob's spec field (SimConfig): type, range, help. The other knobs keep the preset's values.
OPTION_OF = {
    "preset": "--preset",
    "n_users": "--users",
    "n_items": "--items",
    "alpha": "--alpha",
    "beta": "--beta",
    "gamma": "--gamma",
    "item_mixing": "--item-mixing",
    "iv_strength": "--iv-strength",
    "hidden_strength": "--hidden-strength",
    "clusters": "--clusters",
    "latent_dim": "--latent-dim",
    "random_items": "--random-items",
    "rating_noise": "--rating-noise",
    "w_prior": "--w-prior",
    "seed": "--seed",
    "chunk_users": "--chunk-users",
}
#: Where simgen offers other choices than the knob takes: the presets sorted, and w_prior's
#: "code" only through a preset (ividr-code, ividr-paper: it needs 5 clusters).
_CHOICES = {"preset": tuple(sorted(PRESETS)), "w_prior": ("gaussian", "uniform")}


class FormatList(click.ParamType):
    """A comma-separated list of layouts, each one of :data:`simulator.writer.WRITE_FORMATS`."""

    name = "format[,format...]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        parts = [p.strip() for p in str(value).split(",")]
        bad = [p for p in parts if p not in WRITE_FORMATS]
        if bad:
            allowed = ", ".join(repr(f) for f in WRITE_FORMATS)
            self.fail(
                f"{bad[0]!r} is not one of {allowed} (repeat the option or separate by commas).",
                param,
                ctx,
            )
        return tuple(parts)


def preset_default(knob: str) -> str:
    """The default of ``knob``'s option in words: its value, or each preset's where they differ."""
    values = []
    for name, overrides in PRESETS.items():
        value = overrides.get(knob, getattr(SimConfig(), knob))
        values.append(f"{name} {value}")
    unique = {v.split(" ", 1)[1] for v in values}
    if len(unique) == 1:
        return unique.pop()
    return "the preset's: " + ", ".join(values)


def knob_options(command):
    """The options of :data:`OPTION_OF`, made from SimConfig's spec fields: ``--preset`` with its
    default, every other one None unless given (the preset's value then), its help ending with
    the default of every preset."""
    for knob in reversed(OPTION_OF):  # click lists options in the order they decorate
        if knob == "preset":
            option = spec_option(SimConfig, knob, choices=_CHOICES[knob])
        else:
            option = spec_option(
                SimConfig,
                knob,
                flag=OPTION_OF[knob],
                default=None,
                default_text=preset_default(knob),
                choices=_CHOICES.get(knob),
            )
        command = option(command)
    return command


@click.command(
    "simgen",
    cls=OneLineCommand,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@knob_options
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Output directory. [default: ./simgen-out/<name made of the knobs>]",
)
@click.option(
    "--format",
    "formats",
    type=FormatList(),
    multiple=True,
    help="Layouts to write, repeatable or comma-separated: simgen (our files, always written), "
    "idcf (iDCF's train.csv, random.csv, user_feat_label.csv, user_feat_onehot.csv, z_true.npy "
    "in OUT/idcf/), recbole (RecBole atomic files recbole.inter/.user/.item and the "
    ".train/.valid/.test.inter split in OUT/recbole/). [default: simgen]",
)
@click.option(
    "--references",
    is_flag=True,
    help="Also compute the reference MCCs (proxy oracle E[C|W], chance, exposure R^2) now and "
    "write OUT/references.json; otherwise `ividr fit`/`ividr sweep` compute them on first use. "
    "[default: off]",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace --out if simgen wrote it (its meta.json says so); never any other folder.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary; print the path.")
@click.version_option(__version__, "--version", prog_name="simgen")
def simgen(
    preset: str,
    out: Path | None,
    overwrite: bool,
    quiet: bool,
    formats: tuple[tuple[str, ...], ...],
    references: bool,
    **options: Any,
) -> None:
    """Generate a confounded recommendation dataset with known truth (docs/design.md §2, §3)."""
    wanted = tuple(f for f in WRITE_FORMATS if any(f in group for group in formats)) or ("simgen",)
    config = _config_from_options(preset, options)
    if out is None:
        out = DEFAULT_OUT_ROOT / config.name
    try:
        check_output_dir(out, overwrite=overwrite)
    except (OutputExistsError, PermissionError) as exc:  # the rule of simulator.files
        raise click.BadParameter(str(exc), param_hint="'--out'") from None
    data, path, refs = _generate_and_write(
        config, out, overwrite=overwrite, quiet=quiet, formats=wanted, references=references
    )
    if quiet:
        click.echo(str(path))
        return
    _echo_summary(config, data, path, wanted, refs)


def _config_from_options(preset: str, options: dict[str, Any]) -> SimConfig:
    """The preset's config with the given options; a bad value is a one-line usage error."""
    overrides = {knob: options[knob] for knob in OPTION_OF if options.get(knob) is not None}
    try:
        return SimConfig.from_preset(preset, **overrides)
    except ConfigError as exc:  # a check across knobs, e.g. --random-items above --items
        note = " (at most --items)" if exc.param == "random_items" else ""
        raise usage_error(exc, OPTION_OF.get(exc.param, exc.param), note=note) from None


def _generate_and_write(
    config: SimConfig,
    out: Path,
    *,
    overwrite: bool,
    quiet: bool,
    formats: tuple[str, ...],
    references: bool,
) -> tuple[SimulatedData, Path, dict[str, Any] | None]:
    """Generate, write and (when asked) compute the references; failures exit with code 1."""
    show_progress = not quiet and sys.stderr.isatty()
    try:
        if show_progress:
            with click.progressbar(
                length=config.n_users, label="simgen: generating", file=sys.stderr
            ) as bar:
                data = generate(config, progress=bar.update)
            click.echo("simgen: writing files ...", err=True)
        else:
            data = generate(config)
        path = write_dataset(data, out, overwrite=overwrite, formats=formats)
        refs = None
        if references:
            from simulator.references import references_for

            refs = references_for(path, data.to_dataset())
    except MemoryError:
        raise click.ClickException(
            "out of memory; lower --chunk-users or the number of users/items"
        ) from None
    except OSError as exc:
        raise click.ClickException(f"could not write {out}: {exc}") from None
    return data, path, refs


def _echo_summary(
    config: SimConfig,
    data: SimulatedData,
    path: Path,
    wanted: tuple[str, ...],
    refs: dict[str, Any] | None,
) -> None:
    """Print the counts, rating histograms, quantiles, extra layouts and references."""
    s = data.summary()
    hist = s["rating_histogram"]
    click.echo(
        f"simgen: preset {config.preset}, {s['n_users']} users x {s['n_items']} items, "
        f"seed {config.seed}"
    )
    click.echo(
        f"  train (biased):    {s['n_train']:>10,d} ratings, exposure density "
        f"{s['exposure_density']:.4f}"
    )
    click.echo(
        f"  random (unbiased): {s['n_random']:>10,d} ratings ({config.random_items} per user)"
    )
    for label in ("train", "random"):
        counts = "  ".join(f"{k}: {v}" for k, v in hist[label].items())
        click.echo(f"  ratings {label:<7}    {counts}")
    click.echo(f"  q05/q95 of y:      {data.q05:.3f} / {data.q95:.3f} ({data.quantile_method})")
    for fmt in wanted:
        if fmt != "simgen":
            click.echo(f"  {fmt + ' layout:':<19}{path / fmt}")
    if refs is not None:
        _echo_references(refs)
    click.echo(f"wrote {path}")


def _echo_references(refs: dict[str, Any]) -> None:
    """Print the reference MCCs, the exposure R^2 and the supervised ceiling."""
    r2 = refs["r2_exposure"] or {}
    click.echo(
        f"  references:        proxy oracle MCC {refs['mcc_proxy_oracle']['strong']:.3f}, "
        f"chance {refs['mcc_chance']['mean']:.3f} (p95 {refs['mcc_chance']['p95']:.3f}), "
        f"R^2 exposure {r2.get('exposure', float('nan')):.3f} / W "
        f"{r2.get('proxy', float('nan')):.3f}"
    )
    sup = refs.get("mcc_supervised") or {}
    click.echo(
        f"  supervised MCC:    exposure + W {sup.get('exposure_w', float('nan')):.3f}, "
        f"exposure {sup.get('exposure', float('nan')):.3f} (cross-fitted ceiling)"
    )


def main() -> None:
    """Console-script entry point."""
    simgen()


if __name__ == "__main__":
    main()
