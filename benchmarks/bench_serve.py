"""Predict latency (p50/p95 per image, with and without Grad-CAM) in-process, and JSON API throughput with
8 concurrent clients against a real `pneumogan serve` process.

    python benchmarks/bench_serve.py CHECKPOINT [CHECKPOINT ...] --images 100 --requests 200
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from _common import SHARED_DATA, save


def test_files(n: int) -> list[Path]:
    root = SHARED_DATA / "chest_xray_224" / "test"
    files = sorted((root / "NORMAL").iterdir())[: n // 2] + sorted((root / "PNEUMONIA").iterdir())[: n - n // 2]
    return files


def percentiles(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)), "n": len(ms)}


def latency(checkpoint: Path, files: list[Path]) -> dict:
    from pneumogan.serve.service import ModelService

    service = ModelService(checkpoint)
    out = {}
    for gradcam in (False, True):
        for f in files[:5]:  # warm-up
            service.predict(f.read_bytes(), f.name, gradcam)
        ms = []
        for f in files:
            data = f.read_bytes()
            t0 = time.perf_counter()
            service.predict(data, f.name, gradcam)
            ms.append((time.perf_counter() - t0) * 1000)
        out["with_gradcam" if gradcam else "without_gradcam"] = percentiles(ms)
        print(
            f"{checkpoint.name}: gradcam={gradcam} p50 {out[list(out)[-1]]['p50_ms']:.1f} ms "
            f"p95 {out[list(out)[-1]]['p95_ms']:.1f} ms"
        )
    return out


def throughput(checkpoint: Path, files: list[Path], requests: int, clients: int = 8) -> dict:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pneumogan", "serve", str(checkpoint), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(180):
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        payloads = [(f.name, f.read_bytes()) for f in files]
        result = {}
        for gradcam in ("false", "true"):

            def call(i: int, gradcam: str = gradcam) -> tuple[int, float]:
                name, data = payloads[i % len(payloads)]
                t0 = time.perf_counter()
                r = httpx.post(
                    f"{url}/api/v1/predict", files={"file": (name, data)}, data={"gradcam": gradcam}, timeout=120
                )
                return r.status_code, (time.perf_counter() - t0) * 1000

            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(call, range(clients * 2)))  # warm-up
                t0 = time.perf_counter()
                got = list(pool.map(call, range(requests)))
                wall = time.perf_counter() - t0
            errors = sum(code != 200 for code, _ in got)
            result[f"gradcam_{gradcam}"] = {
                "requests_per_s": requests / wall,
                "errors": errors,
                **percentiles([ms for _, ms in got]),
            }
            print(
                f"{checkpoint.name}: {clients} clients gradcam={gradcam}: {requests / wall:.1f} req/s, "
                f"{errors} errors, p50 {statistics.median([ms for _, ms in got]):.0f} ms"
            )
        return result
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    files = test_files(args.images)
    results = {}
    for ckpt in args.checkpoints:
        results[str(ckpt)] = {"latency": latency(ckpt, files), "api_8_clients": throughput(ckpt, files, args.requests)}
    save("serve_latency", {"images": len(files), "requests": args.requests, "results": results})


if __name__ == "__main__":
    main()
