"""Runs you can watch: each training job's parameters and per-epoch (classifier) or per-window (GAN, diffusion)
metrics as TensorBoard event files in `<its folder>/tensorboard/` — cheap, no server; `tensorboard --logdir
runs/<run>/stages` shows every stage of an experiment side by side.

Written by the process that writes the job's history (rank 0), from the same rows, so the curves and
`history.csv` agree. A resumed job discards the events at or after its resume step (`purge_step`), so a curve has
one value per step however often the job was interrupted.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

TENSORBOARD = "tensorboard"  # the event-file folder inside a job's folder


class Tracker:
    """One job's TensorBoard writer; a disabled tracker (other ranks) does nothing."""

    def __init__(self, out: Path, config_yaml: str, start: int = 0, enabled: bool = True):
        self.writer = None
        if not enabled:
            return
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(Path(out) / TENSORBOARD), purge_step=start or None)
        if not start:
            self.writer.add_text("config", f"```yaml\n{config_yaml}\n```", 0)

    def row(self, row: dict[str, Any], step: int, prefix: str) -> None:
        """Every number in a history row, as `<prefix>/<name>` at `step`."""
        if self.writer is None:
            return
        for name, value in row.items():
            if isinstance(value, numbers.Real) and not isinstance(value, bool) and name not in ("epoch", "step"):
                self.writer.add_scalar(f"{prefix}/{name}", float(value), step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
