"""``--device`` (docs/design.md §4.3): resolution, the CPU path unchanged, CPU model files, the
sweep's device mapping, and the usage errors. Everything here runs on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ividr.api import FitConfig, fit_model, load_model, save_model
from ividr.cli import main
from ividr.experiments.backends import ray_device
from ividr.experiments.errors import SweepError
from ividr.experiments.grid import SweepConfig
from ividr.experiments.runner import run_sweep
from ividr.training.devices import (
    DeviceError,
    check_device,
    cuda_determinism,
    ray_gpu_fraction,
    resolve_device,
    worker_devices,
)
from simulator import SimConfig, generate

ROOT = Path(__file__).resolve().parents[1]
#: Short settings: a fit in about a second.
FAST = dict(epochs=3, latent_epochs=6, kl_anneal_epochs=2, latent_patience=3, restarts=2)
FAST.update(n_boot=0, trace_every=2)
MF_CLI = ["--epochs", "2", "--n-boot", "0", "--no-references", "--quiet", "--threads", "1"]
# the latent stage's options: a usage error for a model without one (mf)
FIT_CLI = [*MF_CLI, "--latent-epochs", "5", "--restarts", "1", "--trace-every", "0"]
SWEEP_CLI = ["--preset", "idcf", "--users", "60", "--items", "30", "--values", "0"]
SWEEP_CLI += ["--models", "mf", "--seeds", "1", "--epochs", "1", "--quiet"]


@pytest.fixture(scope="module")
def small():
    cfg = SimConfig.from_preset("dual", n_users=150, n_items=40, rating_noise=2.0, seed=1)
    return generate(cfg).to_dataset()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, small):
    from simulator.writer import write_dataset

    cfg = SimConfig.from_preset("idcf", n_users=120, n_items=30, seed=0)
    path = tmp_path_factory.mktemp("device") / "data"
    write_dataset(generate(cfg), path)
    return path


@pytest.fixture
def no_cuda(monkeypatch):
    """A machine without CUDA, whatever this one has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


# -- resolution ---------------------------------------------------------------------------------
def test_auto_picks_the_cpu_here(no_cuda):
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device() == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_resolution_on_a_constructed_machine():
    assert resolve_device("auto", n_gpus=2) == torch.device("cuda", 0)
    assert resolve_device("cuda", n_gpus=1) == torch.device("cuda", 0)
    assert resolve_device("cuda:1", n_gpus=2) == torch.device("cuda", 1)
    assert resolve_device("cpu", n_gpus=4) == torch.device("cpu")
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        resolve_device("cuda", n_gpus=0)
    with pytest.raises(DeviceError, match=r"2 GPU\(s\), cuda:0 to cuda:1"):
        resolve_device("cuda:2", n_gpus=2)


@pytest.mark.parametrize(
    "bad", ["cuda:x", "tpu", "", "CUDA", "cuda:", "cuda:-1", "cuda:01", 0, None]
)
def test_malformed_devices_are_refused_naming_the_parameter(bad):
    with pytest.raises(DeviceError, match="The 'device' parameter of FitConfig must be 'auto'"):
        check_device(bad)
    with pytest.raises(ValueError, match="The 'device' parameter of FitConfig"):
        FitConfig(model="mf", device=bad).validate()


def test_deterministic_settings_leave_the_cpu_alone(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = torch.are_deterministic_algorithms_enabled()
    with cuda_determinism(torch.device("cpu")):
        assert torch.are_deterministic_algorithms_enabled() == before
    assert "CUBLAS_WORKSPACE_CONFIG" not in __import__("os").environ


# -- the CPU path is the CPU path -----------------------------------------------------------------
@pytest.mark.parametrize("model", ["idcf", "ividr", "mf-wf"])
def test_device_cpu_gives_byte_identical_results_through_the_api(small, model):
    plain = fit_model(small, FitConfig(model=model, seed=2, **FAST))
    cpu = fit_model(small, FitConfig(model=model, seed=2, device="cpu", **FAST))
    if plain.latents is not None:
        assert plain.latents.tobytes() == cpu.latents.tobytes()
        assert plain.latents_std.tobytes() == cpu.latents_std.tobytes()
    _, test = small.split_unbiased(0.3, random_state=2)
    assert (
        plain.estimator.score(test.user, test.item).tobytes()
        == cpu.estimator.score(test.user, test.item).tobytes()
    )
    assert plain.metrics["device"] == cpu.metrics["device"] == "cpu"
    assert plain.estimator.device == "auto" and cpu.estimator.device == "cpu"
    assert isinstance(cpu.latents, np.ndarray) or cpu.latents is None


def test_device_cpu_gives_byte_identical_latents_through_the_cli(tmp_path, data_dir):
    base = ["fit", "--data", str(data_dir), "--model", "idcf", *FIT_CLI]
    plain = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "plain")])
    cpu = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "cpu"), "--device", "cpu"])
    assert plain.exit_code == 0 and cpu.exit_code == 0, plain.output + cpu.output
    latents = [(tmp_path / name / "latents.npy").read_bytes() for name in ("plain", "cpu")]
    assert latents[0] == latents[1]
    # config.json keeps the device asked for; metrics.json says where the fit ran.
    configs = [json.loads((tmp_path / n / "config.json").read_text()) for n in ("plain", "cpu")]
    assert configs[0]["device"] == "auto" and configs[1]["device"] == "cpu"
    assert configs[1]["estimator_params"]["device"] == "cpu"
    for name in ("plain", "cpu"):
        assert json.loads((tmp_path / name / "metrics.json").read_text())["device"] == "cpu"


def test_fit_config_round_trips_its_device():
    config = FitConfig(model="idcf", device="cuda:1")
    again = FitConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.device == "cuda:1"
    assert FitConfig(model="idcf").device == "auto"


# -- model files load on the CPU ------------------------------------------------------------------
def test_a_model_saved_from_a_gpu_loads_on_the_cpu(tmp_path, small, monkeypatch):
    """The file claims every tensor lives on cuda:0 (as torch writes a GPU tensor's location);
    load_model reads it with map_location="cpu" on this machine without CUDA."""
    result = fit_model(small, FitConfig(model="idcf", seed=0, **FAST))
    path = tmp_path / "model.pt"
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        save_model(result.estimator, path)
    if not torch.cuda.is_available():  # without map_location the file cannot be read here
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)
    loaded = load_model(path)
    assert loaded.device_ == torch.device("cpu")
    for net in loaded.nets_.values():
        assert all(t.device.type == "cpu" for t in net.state_dict().values())
    _, test = small.split_unbiased(0.3, random_state=0)
    assert np.array_equal(
        loaded.score(test.user, test.item), result.estimator.score(test.user, test.item)
    )
    assert np.array_equal(loaded.user_latents_, result.estimator.user_latents_)
    assert loaded.get_params() == result.estimator.get_params()  # device "auto" kept
    with pytest.raises(DeviceError, match="The 'device' parameter of load_model"):
        load_model(path, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA GPU"):
            load_model(path, device="cuda")


def test_saved_tensors_are_cpu_tensors(tmp_path, small):
    result = fit_model(small, FitConfig(model="ivae", seed=0, **FAST))
    save_model(result.estimator, tmp_path / "model.pt")
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    states = [entry["state"] for entry in payload["nets"].values()]
    assert all(t.device.type == "cpu" for state in states for t in state.values())


# -- the sweep's devices --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("device", "jobs", "gpus", "expected"),
    [
        ("cpu", 3, 2, ["cpu"] * 3),
        ("auto", 3, 0, ["cpu"] * 3),
        ("auto", 4, 1, ["cuda:0"] * 4),  # one GPU holds every job
        ("cuda", 5, 2, ["cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"]),  # round-robin
        ("auto", 3, 4, ["cuda:0", "cuda:1", "cuda:2"]),
        ("cuda:1", 3, 2, ["cuda:1"] * 3),  # a named GPU takes every job
    ],
)
def test_worker_devices_on_a_constructed_machine(device, jobs, gpus, expected):
    assert worker_devices(device, jobs=jobs, n_gpus=gpus) == expected


def test_worker_devices_refuse_what_the_machine_lacks():
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        worker_devices("cuda", jobs=2, n_gpus=0)
    with pytest.raises(DeviceError, match="cuda:0 to cuda:1"):
        worker_devices("cuda:3", jobs=2, n_gpus=2)


def test_ray_asks_for_a_share_of_a_gpu_on_cuda_only():
    assert ray_gpu_fraction(1) == 1.0 and ray_gpu_fraction(4) == 0.25
    assert ray_gpu_fraction(3) == 0.3333
    assert ray_device("cpu", 8, 4) == ("cpu", 0.0)
    assert ray_device("auto", 0, 4) == ("cpu", 0.0)
    assert ray_device("auto", 2, 4) == ("cuda", 0.25)
    assert ray_device("cuda:1", 2, 2) == ("cuda", 0.5)
    with pytest.raises(SweepError, match="no GPU"):
        ray_device("cuda", 0, 1)


def seen_device_fit(dataset, config, spec):
    """A stand-in fit that reports the device the driver gave the run."""
    return {"metrics": {"seconds": 0.0, "seen": config.fit_overrides.get("device")}}


def test_a_sweep_runs_on_its_device_and_does_not_record_it(tmp_path):
    config = SweepConfig(
        preset="idcf", values=(0.0,), models=("mf",), seeds=2, n_users=60, n_items=30
    )
    outcome = run_sweep(config, tmp_path / "s", fit_fn=seen_device_fit, device="cpu")
    assert sorted(outcome.ran) and not outcome.failures
    assert {r["seen"] for r in outcome.rows} == {"cpu"}
    assert {r["device"] for r in outcome.rows} == {"cpu"}
    assert "device" not in json.loads((tmp_path / "s" / "sweep.json").read_text())["fit_overrides"]
    with pytest.raises(SweepError, match="'device' parameter of run_sweep"):
        run_sweep(config, tmp_path / "t", fit_fn=seen_device_fit, device="tpu")
    assert not (tmp_path / "t").exists()


# -- usage errors: exit 2, one line, nothing written --------------------------------------------
def _one_line_usage_error(res, out: Path) -> None:
    assert res.exit_code == 2, res.output
    assert res.stderr.count("\n") == 1 and "'--device'" in res.stderr, res.stderr
    assert "Traceback" not in res.output
    assert not out.exists()


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:x", "tpu"])
def test_fit_refuses_a_device_it_cannot_use(tmp_path, data_dir, no_cuda, device):
    out = tmp_path / "run"
    args = ["fit", "--data", str(data_dir), "--model", "mf", "--out", str(out), *MF_CLI]
    res = CliRunner().invoke(main, [*args, "--device", device])
    _one_line_usage_error(res, out)
    if device in ("cuda", "cuda:0"):
        assert "no CUDA GPU" in res.stderr


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "cuda:x", "tpu"])
def test_sweep_refuses_a_device_it_cannot_use(tmp_path, no_cuda, device):
    out = tmp_path / "sweep"
    res = CliRunner().invoke(main, ["sweep", "--out", str(out), *SWEEP_CLI, "--device", device])
    _one_line_usage_error(res, out)


def test_table5_refuses_cuda_without_one(tmp_path, no_cuda):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_table5", ROOT / "benchmarks/table5.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "results"
    args = ["--device", "cuda", "--results-dir", str(out), "--out-root", str(tmp_path / "runs")]
    res = CliRunner().invoke(module.main, args)
    _one_line_usage_error(res, out)
    assert not (tmp_path / "runs").exists()


def test_bench_models_refuses_cuda_without_one(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    res = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_models.py"), "--device", "cuda"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "'--device'" in res.stderr and "no CUDA" in res.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_bench_models_runs_the_table5_reproduction_on_its_device(tmp_path):
    tiny = "--presets idcf --users 60 --items 30 --values 0 --seeds 1 --epochs 1"
    tiny += f" --latent-epochs 3 --models idcf --out-root {tmp_path / 'runs'}"
    tiny += f" --results-dir {tmp_path / 'results'}"
    args = ["--users", "200", "--items", "40", "--fits", "", "--restarts", "1", "--no-compile"]
    args += ["--epochs", "1", "--threads", "1", "--device", "cpu", "--table5", "--jobs", "1"]
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_models.py"),
            *args,
            "--table5-args",
            tiny,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "device cpu" in res.stdout and "Table 5 reproduction:" in res.stdout
    assert "total: 1 runs" in res.stdout
    assert (tmp_path / "results" / "table5_idcf.md").is_file()
