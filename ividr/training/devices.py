"""Where torch runs: ``--device auto|cpu|cuda[:N]`` (docs/design.md §4.3), for fits and sweeps.

- :func:`check_device` validates the text of a device (the public boundary: ``FitConfig``, the
  estimators, the CLIs); :func:`resolve_device` turns it into a ``torch.device`` on this machine
  ("auto": ``cuda`` when torch sees a GPU, else ``cpu``) and raises :class:`DeviceError` when a
  GPU is asked for that this machine lacks.
- :func:`worker_devices` is the sweep's mapping of worker slots to devices (a pure function of
  the requested device, ``jobs`` and the GPU count), :func:`ray_gpu_fraction` the share of a GPU
  one Ray task asks for.
- :func:`cuda_determinism` applies torch's deterministic settings around a CUDA fit.

The CPU path is the same code with ``device=cpu``: every ``.to(device)`` on a CPU tensor
returns the tensor itself (no copy), the random generators stay the CPU generators they were,
so a CPU fit is byte-identical with or without a device option.

Randomness on a GPU. Initialisation is always drawn on the CPU, from the same CPU generator a
CPU fit uses, and the module is then moved (a CUDA fit starts from the very weights of the CPU
fit of its seed). Batch order and the reparameterisation noise of a CUDA fit come from a
``torch.Generator`` on that GPU, seeded by one draw from the fit's numpy generator
(:func:`ividr.training.torch_utils.torch_generator`); no global seed is touched. A CUDA fit is
therefore reproducible on the same GPU model, torch and driver within what the deterministic
settings below give, but not bit-equal to the CPU fit of the same seed.

Deterministic settings (:func:`cuda_determinism`), applied for the duration of every fit whose
device is CUDA and restored afterwards (nothing changes on the CPU):

- ``torch.use_deterministic_algorithms(True, warn_only=True)``: the scatter-add behind the
  backward pass of indexing and embeddings (``index_put_`` with accumulation) uses a sorted,
  deterministic kernel instead of atomics; an operation without a deterministic kernel warns
  instead of failing the fit.
- ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (set only when unset; cuBLAS reads it when its handle is
  created, so a process that ran cuBLAS work before its first fit should set it in the
  environment itself): cuBLAS then uses a fixed workspace and gives the same reduction order.
- ``torch.backends.cudnn.deterministic = True`` and ``benchmark = False`` (cuDNN is not used by
  these MLP models; set for completeness).

What they cost has not been measured: no GPU was lent to the session that wrote this
(docs/gpu.md). Torch's documentation says the deterministic kernels can be slower, above all
the sorted scatter-add; ``benchmarks/bench_models.py --device cuda`` times fits with them on.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator

import torch

from metrics.checks import ParameterError, parameter_message

__all__ = [
    "DEVICE_HELP",
    "DeviceError",
    "check_device",
    "cuda_determinism",
    "gpu_count",
    "ray_gpu_fraction",
    "resolve_device",
    "worker_devices",
]

#: What a device may be, for messages and help texts.
DEVICE_HELP = "'auto', 'cpu', 'cuda' or 'cuda:N' (N an int >= 0)"
_PATTERN = re.compile(r"auto|cpu|cuda(:(0|[1-9][0-9]*))?")


class DeviceError(ParameterError):
    """A device that is malformed, or that this machine does not have."""


def check_device(value, *, name: str = "device", owner: str = "FitConfig") -> str:
    """``value`` if it is a well-formed device text, else DeviceError naming the parameter.

    Only the form is checked here, not whether this machine has the device
    (:func:`resolve_device`).
    """
    if not isinstance(value, str) or _PATTERN.fullmatch(value) is None:
        raise DeviceError(
            parameter_message(name, owner, DEVICE_HELP, value),
            param=name,
            allowed=DEVICE_HELP,
            got=value,
        )
    return value


def gpu_count() -> int:
    """GPUs torch sees on this machine (0 without CUDA)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_device(
    value: str = "auto", *, n_gpus: int | None = None, owner: str = "FitConfig"
) -> torch.device:
    """The ``torch.device`` that ``value`` names on this machine.

    Parameters
    ----------
    value : str, default "auto"
        See :data:`DEVICE_HELP`. "auto": ``cuda:0`` when torch sees a GPU, else ``cpu``;
        "cuda" is ``cuda:0``.
    n_gpus : int or None
        GPUs of the machine; None asks torch (:func:`gpu_count`). Tests pass a constructed one.
    owner : str, default "FitConfig"
        Who takes the parameter, for the message of a malformed value.

    Raises
    ------
    DeviceError
        Malformed text; CUDA asked for on a machine without it; a GPU index out of range.
    """
    check_device(value, owner=owner)
    gpus = gpu_count() if n_gpus is None else int(n_gpus)
    if value == "cpu" or (value == "auto" and gpus == 0):
        return torch.device("cpu")
    if gpus == 0:
        raise DeviceError(f"device {value!r}: torch sees no CUDA GPU on this machine (use cpu)")
    index = int(value.split(":")[1]) if ":" in value else 0
    if index >= gpus:
        raise DeviceError(
            f"device {value!r}: this machine has {gpus} GPU(s), cuda:0 to cuda:{gpus - 1}"
        )
    return torch.device("cuda", index)


def worker_devices(device: str, *, jobs: int, n_gpus: int) -> list[str]:
    """The device of each of a sweep's ``jobs`` worker slots, on a machine with ``n_gpus`` GPUs.

    Worker slot ``k`` (``0 .. jobs-1``; each local worker process holds one slot, and runs every
    run it takes on that slot's device) gets:

    - ``cpu``, or ``auto`` with no GPU: ``"cpu"``;
    - ``cuda`` or ``auto`` with ``G`` >= 1 GPUs: ``"cuda:<k mod G>"`` (round-robin), so each
      GPU holds ``ceil(jobs / G)`` or ``floor(jobs / G)`` runs at once; with one GPU all
      ``jobs`` runs share it;
    - ``cuda:N``: ``"cuda:N"`` for every slot (all ``jobs`` runs on GPU N).

    Raises
    ------
    DeviceError
        As :func:`resolve_device` (CUDA without a GPU, an index out of range).
    """
    resolved = resolve_device(device, n_gpus=n_gpus)
    if resolved.type == "cpu":
        return ["cpu"] * int(jobs)
    if device in ("auto", "cuda"):
        return [f"cuda:{k % n_gpus}" for k in range(int(jobs))]
    return [str(resolved)] * int(jobs)


def ray_gpu_fraction(jobs: int) -> float:
    """The ``num_gpus`` one Ray task asks for when a sweep runs on CUDA: ``1 / jobs``.

    So Ray places up to ``jobs`` runs on each GPU of the cluster at once (``jobs`` = 1: one run
    per GPU); Ray picks the GPU and makes it the task's only visible one, so the task's device is
    ``cuda`` (an index given to ``--device cuda:N`` does not apply on Ray). Rounded down to
    Ray's resolution of 1e-4.
    """
    return max(int(1e4 / max(int(jobs), 1)) / 1e4, 1e-4)


@contextlib.contextmanager
def cuda_determinism(device: torch.device) -> Iterator[None]:
    """Torch's deterministic settings for the duration of a CUDA fit (module docstring).

    On any other device nothing is changed. The previous settings are restored on exit;
    ``CUBLAS_WORKSPACE_CONFIG`` is only set when unset, and left set.
    """
    if device.type != "cuda":
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic = saved[2]
        torch.backends.cudnn.benchmark = saved[3]
