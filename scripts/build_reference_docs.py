"""Write the generated reference pages (configuration, CLI, HTTP API) under docs/reference/.

python scripts/build_reference_docs.py
"""

from __future__ import annotations

from pathlib import Path

from pneumogan.reference_docs import write_pages

if __name__ == "__main__":
    for page in write_pages(Path(__file__).resolve().parents[1] / "docs" / "reference"):
        print(f"wrote {page}")
