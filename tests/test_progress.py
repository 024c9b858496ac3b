"""Progress of long work (issue 22): the training layer's events, the bar line that draws them,
and when ``ividr fit``, ``ividr sweep`` and the demo show a bar (only on a terminal, never with
--quiet). A terminal is faked by replacing :func:`ividr.training.progress.stderr_is_terminal`.
"""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner

from ividr.api import FitConfig, fit_model
from ividr.cli import main
from ividr.training import progress as progress_mod
from ividr.training.progress import BarLine, EventHook, LineProgress, ProgressHook, fit_progress
from simulator import SimConfig, generate
from simulator.writer import write_dataset

FAST = ["--latent-epochs", "3", "--epochs", "2", "--n-boot", "0", "--no-references"]


class Recorder(ProgressHook):
    """Keeps every event and line it is given."""

    def __init__(self):
        self.events, self.lines = [], []

    def __call__(self, line):
        self.lines.append(line)

    def stage_start(self, stage, runs, max_epochs, unit):
        self.events.append(("start", stage, runs, max_epochs, unit))

    def epoch_end(self, stage, run, epoch, stopped):
        self.events.append(("epoch", stage, run, epoch, stopped))

    def stage_end(self, stage):
        self.events.append(("end", stage))


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("progress") / "data"
    write_dataset(generate(SimConfig.from_preset("idcf", n_users=120, n_items=30)), path)
    return path


@pytest.fixture
def terminal(monkeypatch):
    """Make the commands believe stderr is a terminal."""
    monkeypatch.setattr(progress_mod, "stderr_is_terminal", lambda: True)


# -- the training layer's events --------------------------------------------------------------
def test_fit_reports_every_epoch_of_every_restart_and_stage():
    data = generate(SimConfig.from_preset("idcf", n_users=120, n_items=30)).to_dataset()
    hook = Recorder()
    config = FitConfig(model="idcf", latent_epochs=3, epochs=2, restarts=2, n_boot=0)
    fit_model(data, config, progress=hook)
    starts = [e for e in hook.events if e[0] == "start"]
    assert starts == [
        ("start", "latent", 2, 3, "restart"),
        ("start", "recommender", 1, 2, "grid point"),
    ]
    latent = [e for e in hook.events if e[:2] == ("epoch", "latent")]
    assert sorted((e[2], e[3]) for e in latent) == [(r, k) for r in (0, 1) for k in range(3)]
    assert [e for e in hook.events if e[0] == "end"] == [("end", "latent"), ("end", "recommender")]
    assert any(line.startswith("[latent] restart 1, epoch 2") for line in hook.lines)


def test_plain_callables_still_get_the_lines_only():
    data = generate(SimConfig.from_preset("idcf", n_users=120, n_items=30)).to_dataset()
    lines = []
    fit_model(data, FitConfig(model="mf", epochs=2, n_boot=0), progress=lines.append)
    assert len(lines) == 2 and lines[0].startswith("[recommender]")


# -- the bar line -----------------------------------------------------------------------------
def test_bar_line_draws_each_fit_on_one_line():
    out = io.StringIO()
    bars = BarLine(file=out, width=10, interval=0.0)
    bars.update("idcf", "stage_start", ("latent", 2, 10, "restart"))
    bars.update("ividr", "stage_start", ("iv4r", 1, 4, "grid point"))
    bars.update("idcf", "epoch_end", ("latent", 1, 4, False))
    bars.update("ividr", "epoch_end", ("iv4r", 0, 1, True))  # stopped early: its share is full
    text = bars.text()
    assert "idcf latent [##--------] restart 2/2 epoch 5/10" in text
    assert "ividr iv4r [##########] epoch 2/4 (stopped)" in text
    bars.write_above("[1/2] idcf done")
    bars.update("idcf", "stage_end", ("latent",))
    assert "idcf latent [##########] done" in bars.text()
    bars.close()
    drawn = out.getvalue()
    assert drawn.count("\r") >= 5 and "[1/2] idcf done\n" in drawn and drawn.endswith("\n")


def test_event_hook_sends_key_event_args():
    sent = []
    hook = EventHook(lambda *e: sent.append(e), "idcf")
    hook.stage_start("latent", 1, 5, "restart")
    hook.epoch_end("latent", 0, 0, False)
    hook("[latent] epoch 0: ...")  # lines are dropped
    hook.stage_end("latent")
    assert sent == [
        ("idcf", "stage_start", ("latent", 1, 5, "restart")),
        ("idcf", "epoch_end", ("latent", 0, 0, False)),
        ("idcf", "stage_end", ("latent",)),
    ]


def test_fit_progress_is_a_bar_only_on_a_terminal_and_nothing_when_quiet(monkeypatch):
    monkeypatch.setattr(progress_mod, "stderr_is_terminal", lambda: True)
    assert isinstance(fit_progress(False), EventHook)
    assert type(fit_progress(True)) is ProgressHook  # silent
    monkeypatch.setattr(progress_mod, "stderr_is_terminal", lambda: False)
    assert isinstance(fit_progress(False), LineProgress)
    assert type(fit_progress(True)) is ProgressHook


# -- the commands -----------------------------------------------------------------------------
def run_fit(small_data, tmp_path, *extra):
    args = ["fit", "--data", str(small_data), "--model", "idcf", "--restarts", "2"]
    res = CliRunner().invoke(main, [*args, *FAST, "--out", str(tmp_path / "fit"), *extra])
    assert res.exit_code == 0, res.output
    return res.stderr


def test_fit_draws_a_bar_on_a_terminal(small_data, tmp_path, terminal):
    err = run_fit(small_data, tmp_path)
    # Epoch redraws are throttled, so only the stage changes are sure to be drawn here.
    assert "\r" in err and "idcf latent [" in err and "idcf latent [############] done" in err
    assert "idcf recommender [" in err
    assert "[latent] restart" not in err  # the bar replaces the per-epoch lines


def test_fit_has_no_bar_off_a_terminal_but_its_lines(small_data, tmp_path):
    err = run_fit(small_data, tmp_path)
    assert "\r" not in err and "latent [" not in err
    assert "[latent] restart 1, epoch 2" in err


def test_fit_quiet_shows_nothing_even_on_a_terminal(small_data, tmp_path, terminal):
    assert run_fit(small_data, tmp_path, "--quiet") == ""


def run_sweep_cli(tmp_path, monkeypatch, *extra):
    """``ividr sweep`` with run_sweep replaced by two instant runs."""
    from ividr.cli import sweep as cli_sweep
    from ividr.experiments.runner import SweepOutcome

    def fake_run_sweep(config, out, progress=None, **how):
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.md").write_text("summary\n")
        for done, run_id in enumerate(("run-a", "run-b"), start=1):
            if progress is not None:
                progress(done, 2, run_id)
        return SweepOutcome([], ["run-a", "run-b"], [], {}, 0.1)

    monkeypatch.setattr(cli_sweep, "run_sweep", fake_run_sweep)
    args = ["sweep", "--out", str(tmp_path / "sweep"), "--values", "0", "--seeds", "2"]
    res = CliRunner().invoke(main, [*args, "--models", "mf", *extra])
    assert res.exit_code == 0, res.output
    return res.stderr


def test_sweep_bar_over_runs_only_on_a_terminal(tmp_path, monkeypatch):
    assert "runs to do" not in run_sweep_cli(tmp_path / "a", monkeypatch)
    monkeypatch.setattr(progress_mod, "stderr_is_terminal", lambda: True)
    assert "sweep gamma (2 of 2 runs to do)" in run_sweep_cli(tmp_path / "b", monkeypatch)
    assert run_sweep_cli(tmp_path / "c", monkeypatch, "--quiet") == ""


def test_demo_bar_follows_the_same_rule(monkeypatch):
    from ividr.training.progress import show_bar

    monkeypatch.setattr(progress_mod, "stderr_is_terminal", lambda: True)
    assert show_bar(False) and not show_bar(True)
    monkeypatch.setattr(progress_mod, "stderr_is_terminal", lambda: False)
    assert not show_bar(False)
