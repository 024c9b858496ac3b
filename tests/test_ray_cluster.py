"""A real Ray cluster (§6): a head started here with ``ray start --head --block`` on 127.0.0.1,
joined by ``run_sweep(backend="ray", address=...)`` as a user would type it (the local token is
read; without one, one line says what to set), and stopped by its own pid."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ividr.experiments.errors import SweepError
from ividr.experiments.grid import SweepConfig
from ividr.experiments.runner import run_sweep
from ividr.experiments.store import load_results

ROOT = Path(__file__).resolve().parents[1]

FAKE_FIT = """
import numpy as np


def fake_fit(dataset, config, spec):
    rng = np.random.default_rng(spec.seed)
    latents = rng.normal(size=(dataset.n_users, 2))
    return {"metrics": {"mcc": 0.5, "ndcg@5": 0.25}, "latents": latents, "config": {}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head(tmp_path):
    pytest.importorskip("ray")
    ray_bin = Path(sys.executable).with_name("ray")
    if not ray_bin.is_file():
        pytest.skip("the ray command is not installed beside this Python")
    home = tmp_path / "head-home"
    home.mkdir()
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "ividr_fake_fit.py").write_text(FAKE_FIT)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(tmp_path / "mods")])
    env["RAY_worker_niceness"] = "0"
    # A token in HOME, as on a machine where Ray made one: `ray start --head` then turns token
    # authentication on by default.
    subprocess.run(
        [str(ray_bin), "get-auth-token", "--generate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    args = [str(ray_bin), "start", "--head", "--block", "--node-ip-address", "127.0.0.1"]
    args += ["--port", str(port), "--num-cpus", "2", "--include-dashboard", "false"]
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # AF_UNIX paths: <= 107 bytes
    args += ["--disable-usage-stats", "--temp-dir", str(ray_tmp)]
    log = open(tmp_path / "head.log", "w")  # noqa: SIM115 - closed below
    head = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if head.poll() is not None:
                pytest.fail(f"ray start exited: {(tmp_path / 'head.log').read_text()[-2000:]}")
            time.sleep(0.5)
        else:
            pytest.fail("the Ray head did not listen within 120 s")
        yield {"address": f"127.0.0.1:{port}", "home": home, "tmp": tmp_path, "ray_tmp": ray_tmp}
    finally:
        head.send_signal(signal.SIGTERM)  # --block: ray stops the processes it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        log.close()
        _kill_leftovers(ray_tmp)
        shutil.rmtree(ray_tmp, ignore_errors=True)


def _kill_leftovers(ray_tmp: Path) -> None:
    """Kill, by pid, any process of this head still running (its command line names its
    temporary folder); `ray start --block` normally stops them all itself."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(ray_tmp) in cmdline:
            with contextlib.suppress(OSError):
                os.kill(int(proc.name), signal.SIGKILL)


@pytest.mark.slow
def test_sweep_joins_a_token_cluster_with_the_local_token(ray_head, monkeypatch):
    home = ray_head["home"]
    deadline = time.monotonic() + 30
    while not (home / ".ray" / "auth_token").is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (home / ".ray" / "auth_token").is_file(), "ray start did not write a token"
    for var in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))  # the token where `ray start --head` left it
    monkeypatch.syspath_prepend(str(ray_head["tmp"] / "mods"))
    config = SweepConfig(preset="idcf", values=(0.0,), models=("idcf",), seeds=2, n_users=40)
    out = ray_head["tmp"] / "sweep"
    outcome = run_sweep(
        config,
        out,
        backend="ray",
        address=ray_head["address"],
        threads=1,
        fit_fn="ividr_fake_fit:fake_fit",
    )
    assert not outcome.failures, outcome.failures
    _, rows = load_results(out)
    assert sorted(r["run_id"] for r in rows) == ["gamma=0__idcf__seed=0", "gamma=0__idcf__seed=1"]
    assert os.environ.get("RAY_AUTH_MODE") is None  # the client's environment is left as it was

    # Without any token: one line that says what to set.
    empty = ray_head["tmp"] / "client-home"
    empty.mkdir()
    monkeypatch.setenv("HOME", str(empty))
    with pytest.raises(SweepError) as info:
        run_sweep(
            SweepConfig(preset="idcf", values=(5.0,), models=("idcf",), seeds=1, n_users=40),
            ray_head["tmp"] / "sweep2",
            backend="ray",
            address=ray_head["address"],
            fit_fn="ividr_fake_fit:fake_fit",
        )
    message = str(info.value)
    assert "\n" not in message and "RAY_AUTH_TOKEN" in message and "auth_token" in message
    monkeypatch.undo()  # HOME back, then let Ray forget the token it read from the test's HOME
    from ividr.experiments.backends import _refresh_ray_config

    _refresh_ray_config()
