"""`data prepare` of chest_xray_224 at 128 px: wall time, images/s, size on disk, load time.

Usage: python benchmarks/bench_prepare.py [--size 128] [--repeats 3] [--workers 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, save, summary, timed

from pneumogan.data.prepare import PreparedDataset, prepare
from pneumogan.data.sources import open_source


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=str(SHARED_DATA / "chest_xray_224"))
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as cache:

        def build() -> PreparedDataset:
            return prepare(open_source(args.data), args.size, cache_root=cache, workers=args.workers, force=True)

        build_times, ds = timed(build, args.repeats)
        n = len(ds)
        disk = sum(p.stat().st_size for p in Path(ds.root).iterdir())
        mmap_times, _ = timed(lambda: PreparedDataset.load(ds.root), 5)
        full_times, _ = timed(lambda: np.asarray(PreparedDataset.load(ds.root, mmap=False).images).sum(), 5)
        cached_times, _ = timed(lambda: prepare(open_source(args.data), args.size, cache_root=cache), 3)

    result = {
        "data": args.data,
        "size": args.size,
        "images": n,
        "prepare": summary(build_times),
        "images_per_s": n / summary(build_times)["median_s"],
        "disk_bytes": disk,
        "disk_mb": round(disk / 2**20, 1),
        "load_mmap": summary(mmap_times),
        "load_into_ram": summary(full_times),
        "cache_hit_incl_fingerprint": summary(cached_times),
    }
    print(
        f"prepare {n} images at {args.size}px: median {result['prepare']['median_s']:.2f} s "
        f"({result['images_per_s']:.0f} img/s); {result['disk_mb']} MB on disk; "
        f"load mmap {result['load_mmap']['median_s'] * 1e3:.1f} ms, into RAM "
        f"{result['load_into_ram']['median_s'] * 1e3:.0f} ms; cache hit "
        f"{result['cache_hit_incl_fingerprint']['median_s']:.2f} s"
    )
    save(f"prepare_{args.size}px", result)


if __name__ == "__main__":
    main()
