from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from pneumogan.data import medmnist
from pneumogan.data.sources import NpzSource, open_source
from pneumogan.errors import PneumoganError


@pytest.fixture
def http_dir(tmp_path):
    """A local HTTP server over a folder: the download path without the internet."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def tiny_npz(path: Path) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        arrays[f"{split}_images"] = rng.integers(0, 255, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 2).reshape(-1, 1).astype(np.uint8)
    np.savez(path, **arrays)
    return path


def test_download_verify_and_cache(http_dir, tmp_path, monkeypatch):
    root, url = http_dir
    npz = tiny_npz(root / "pneumoniamnist.npz")
    monkeypatch.setitem(medmnist.MD5, 28, medmnist.md5_of(npz))
    monkeypatch.setenv(medmnist.BASE_URL_ENV, url)
    got = medmnist.fetch_pneumoniamnist(28)
    assert got.parent == medmnist.cache_dir() / "medmnist"
    assert got.read_bytes() == npz.read_bytes()
    npz.unlink()  # served no more: the second call must come from the cache
    assert medmnist.fetch_pneumoniamnist(28) == got
    source = open_source("pneumoniamnist:28")
    assert isinstance(source, NpzSource) and len(source.records()) == 11


def test_md5_mismatch_is_rejected(http_dir, monkeypatch):
    root, url = http_dir
    tiny_npz(root / "pneumoniamnist_64.npz")
    with pytest.raises(PneumoganError, match="MD5"):
        medmnist.fetch_pneumoniamnist(64, base_url=url)
    assert not (medmnist.cache_dir() / "medmnist" / "pneumoniamnist_64.npz").exists()
    assert not list((medmnist.cache_dir() / "medmnist").glob(".download-*"))


def test_offline_error_names_url_file_and_folder(monkeypatch):
    monkeypatch.setenv(medmnist.BASE_URL_ENV, "http://127.0.0.1:9")  # discard port: connection refused
    with pytest.raises(PneumoganError) as info:
        medmnist.fetch_pneumoniamnist(128)
    msg = str(info.value)
    assert "http://127.0.0.1:9/pneumoniamnist_128.npz" in msg
    assert "'pneumoniamnist_128.npz'" in msg and str(medmnist.cache_dir() / "medmnist") in msg


def test_official_urls():
    assert medmnist.url_for(28) == "https://zenodo.org/records/10519652/files/pneumoniamnist.npz?download=1"
    assert medmnist.url_for(224).endswith("pneumoniamnist_224.npz?download=1")
    with pytest.raises(PneumoganError, match="28, 64, 128, 224"):
        medmnist.fetch_pneumoniamnist(32)


@pytest.mark.realdata
def test_real_npz_served_locally_verifies_against_official_md5(http_dir, mnist_28):
    root, url = http_dir
    (root / "pneumoniamnist.npz").write_bytes(mnist_28.read_bytes())
    path = medmnist.fetch_pneumoniamnist(28, base_url=url)
    assert medmnist.md5_of(path) == "28209eda62fecd6e6a2d98b1501bb15f"
