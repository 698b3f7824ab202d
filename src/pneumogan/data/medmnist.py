"""PneumoniaMNIST (MedMNIST v2/v3) npz files: by name from the official URL into a cache, MD5-verified."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from pneumogan.errors import PneumoganError

#: Official location used by the `medmnist` package (v3, Zenodo record 10519652).
OFFICIAL_BASE_URL = "https://zenodo.org/records/10519652/files"
#: MD5 of each official file, as checked by the `medmnist` package.
MD5 = {
    28: "28209eda62fecd6e6a2d98b1501bb15f",
    64: "8f4eceb4ccffa70c672198ea285246c6",
    128: "05b46931834c231683c68f40c47b2971",
    224: "d6a3c71de1b945ea11211b03746c1fe1",
}
CACHE_ENV = "PNEUMOGAN_CACHE_DIR"
BASE_URL_ENV = "PNEUMOGAN_MEDMNIST_URL"  # a mirror (or a local server in tests)


def cache_dir() -> Path:
    """Where downloads and prepared datasets live: $PNEUMOGAN_CACHE_DIR, else ~/.cache/pneumogan."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pneumogan"


def file_name(size: int) -> str:
    return "pneumoniamnist.npz" if size == 28 else f"pneumoniamnist_{size}.npz"


def url_for(size: int, base_url: str | None = None) -> str:
    base = (base_url or os.environ.get(BASE_URL_ENV) or OFFICIAL_BASE_URL).rstrip("/")
    suffix = "?download=1" if base == OFFICIAL_BASE_URL else ""
    return f"{base}/{file_name(size)}{suffix}"


def md5_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def fetch_pneumoniamnist(size: int = 28, directory: Path | None = None, base_url: str | None = None) -> Path:
    """Return the path of the verified npz for `size`, downloading it into the cache when missing."""
    if size not in MD5:
        raise PneumoganError(f"PneumoniaMNIST comes at {sorted(MD5)} px, not {size}")
    directory = Path(directory) if directory else cache_dir() / "medmnist"
    target = directory / file_name(size)
    if target.exists():
        if md5_of(target) == MD5[size]:
            return target
        raise PneumoganError(
            f"{target} exists but its MD5 is not the official {MD5[size]}; delete it to download again"
        )
    url = url_for(size, base_url)
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".download-", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, out)
        got = md5_of(tmp)
        if got != MD5[size]:
            raise PneumoganError(f"download from {url} has MD5 {got}, expected {MD5[size]}; try again")
        os.replace(tmp, target)  # atomic: a half-downloaded file never sits under the final name
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise PneumoganError(
            f"could not download PneumoniaMNIST {size} px from {url} ({exc}). Offline? Download "
            f"'{file_name(size)}' by hand and put it in {directory} (or set {CACHE_ENV}), or pass the "
            "npz path directly."
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return target
