"""Where tensors live and in which precision they are computed: the one place that turns the `device` and
`precision` settings into a `torch.device` and an autocast dtype.

Precision is a trap either way on a CPU: bf16 autocast is 2.5–4× faster than fp32 on CPUs with AMX /
AVX512-BF16, and about 10× slower on AVX2-only CPUs (convolutions fall back to a slow path). So `auto`
picks bf16 only where the hardware reports bf16 support **and** a short measured training step confirms it is
faster (cached per machine), and fp32 everywhere else. Weights and checkpoints always stay fp32.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch

from pneumogan.errors import PneumoganError

Precision = Literal["auto", "fp32", "bf16", "fp16"]
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
#: bf16 must beat fp32 by at least this factor in the probe for `auto` to pick it.
AUTO_MARGIN = 1.05


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then Apple MPS, then the CPU; any other name is taken as given."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def cpu_reports_bf16() -> bool:
    """Whether torch sees AMX tiles or AVX512-BF16 on this CPU (the instructions fast bf16 needs)."""
    cpu = torch.cpu
    return bool(cpu._is_amx_tile_supported() or cpu._is_avx512_bf16_supported())


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


ISA_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2")  # what decides bf16 and kernel speed here


def cpu_flags() -> list[str]:
    """The ISA flags that tell CPU kinds apart where the model name does not (two AMD EPYC generations both
    report "AMD EPYC"; AVX512-BF16 and AMX make bf16 fast, AVX2 alone makes it slow)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                present = set(line.split(":", 1)[1].split())
                return [f for f in ISA_FLAGS if f in present]
    except OSError:
        pass
    return []


def cpu_kind() -> str:
    """The CPU model with the ISA flags that matter here, e.g. `AMD EPYC [avx2]`: results are compared only within
    one kind, and two AMD EPYC generations report the same model name."""
    return f"{cpu_model()} [{' '.join(cpu_flags()) or 'no listed ISA flags'}]"


def probe_step_seconds(dtype: torch.dtype | None, repeats: int = 3) -> float:
    """Median time of a small conv-net training step on the CPU (batch 32, 64 px) under `dtype` autocast.
    Runs in a forked RNG state, so probing never changes a seeded run."""
    # enable_grad: the probe is a training step, and its first caller may be inference code under no_grad
    with torch.random.fork_rng(), torch.enable_grad():
        torch.manual_seed(0)
        return _probe(dtype, repeats)


def _probe(dtype: torch.dtype | None, repeats: int) -> float:
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 64, 3, padding=1, stride=2),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(64, 2),
    ).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.randn(32, 1, 64, 64).to(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (32,))
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(net(x).float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:  # the first step warms up kernels
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _cache_file() -> Path:
    root = os.environ.get("PNEUMOGAN_CACHE_DIR") or Path.home() / ".cache" / "pneumogan"
    return Path(root) / "precision.json"


def cpu_bf16_speedup(probe: Callable[[torch.dtype | None], float] = probe_step_seconds) -> float:
    """fp32 step time ÷ bf16 step time on this CPU (> 1: bf16 is faster), measured once per machine and torch
    version and cached in `$PNEUMOGAN_CACHE_DIR/precision.json`."""
    key = f"{cpu_model()} | torch {torch.__version__} | {torch.get_num_threads()} threads"
    cache = _cache_file()
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        return float(known[key])
    speedup = probe(None) / probe(torch.bfloat16)
    known[key] = round(speedup, 3)
    with contextlib.suppress(OSError):  # a read-only cache only costs the probe next time
        from pneumogan.runs import atomic_write_json

        atomic_write_json(cache, known)
    return speedup


def resolve_precision(
    setting: str,
    device: torch.device,
    log: Callable[[str], None] = print,
    speedup: Callable[[], float] = cpu_bf16_speedup,
    reports_bf16: Callable[[], bool] = cpu_reports_bf16,
) -> str:
    """The precision a run computes in: `fp32`, `bf16` or `fp16`.

    `auto`: bf16 on CUDA with bf16 support; bf16 on a CPU that reports bf16 instructions and measures it
    faster; fp32 otherwise. An explicit `bf16` is honoured, with a warning where it measures slower.
    """
    if setting not in PRECISIONS:
        raise PneumoganError(f"unknown precision '{setting}'; choose one of: {', '.join(PRECISIONS)}")
    if setting == "fp16" and device.type != "cuda":
        raise PneumoganError("precision fp16 is for CUDA GPUs; on this device use auto, fp32 or bf16")
    if device.type == "cuda":
        if setting == "auto":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        return setting
    if device.type != "cpu":  # MPS and others: fp32 unless asked
        return "fp32" if setting == "auto" else setting
    if setting == "fp32":
        return "fp32"
    capable = reports_bf16()
    ratio = speedup() if capable or setting == "bf16" else 0.0
    if setting == "auto":
        return "bf16" if capable and ratio >= AUTO_MARGIN else "fp32"
    if ratio < 1.0:
        message = (
            f"precision bf16 runs {1 / max(ratio, 1e-9):.1f}× slower than fp32 on this CPU "
            f"({cpu_model()}: {'no' if not capable else 'no fast'} bf16 support); precision auto would pick fp32"
        )
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        log(f"warning: {message}")
    return "bf16"


def resumed_precision(
    kept: str,
    resolved: str,
    setting: str,
    device: torch.device,
    log: Callable[[str], None] = print,
    reports_bf16: Callable[[], bool] = cpu_reports_bf16,
    trained_on: str | None = None,
) -> str:
    """The precision a resumed training continues in. The resume state's own (`kept`), so that a resumed run is
    bit-identical to an uninterrupted one — unless the setting is `auto` on a CPU and bit-identity is out of reach
    anyway or too dear: the state was trained on another kind of CPU (`trained_on`, its `cpu_kind()`; kernels
    differ between kinds), or it was trained in bf16 and this CPU has no fast bf16 (several times slower here).
    Then it continues in what `auto` picked here (`resolved`) and says so."""
    if kept == resolved or setting != "auto" or device.type != "cpu":
        return kept
    elsewhere = trained_on is not None and trained_on != cpu_kind()
    if not elsewhere and (kept != "bf16" or reports_bf16()):
        return kept
    why = f"on another CPU ({trained_on})" if elsewhere else f"in {kept}; this CPU ({cpu_model()}) has no fast bf16"
    log(
        f"the resume state was trained {why}, so training continues in {resolved} "
        "(not bit-identical to an uninterrupted run)"
    )
    return resolved


def autocast(device: torch.device, precision: str):
    """The autocast context of a resolved precision (a no-op for fp32)."""
    dtype = DTYPES.get(precision)
    return torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


def optimizer_options(device: torch.device) -> dict[str, bool]:
    """Keyword arguments for Adam/AdamW: the fused kernel where torch has one (CPU and CUDA). It updates
    every parameter in one pass; measured 1-4 % faster per training step than the default on a 2-core CPU."""
    return {"fused": True} if device.type in ("cpu", "cuda") else {}
