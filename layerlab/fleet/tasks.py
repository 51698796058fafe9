"""Waiting for a fleet's tasks on the cluster, with a progress bar: what Fleet and the fleet analyses share."""

from __future__ import annotations

import sys


def show_progress(progress: bool | None) -> bool:
    """Whether to draw progress bars: as asked, or by default when stderr is a terminal (quiet
    when piped, under cron, in a notebook rendered to a report)."""
    return sys.stderr.isatty() if progress is None else bool(progress)


def wait(futures, desc: str, progress: bool | None) -> None:
    """Wait for ``futures`` with a tqdm bar over their completion (on stderr, or a notebook widget)."""
    from distributed import as_completed
    from ..display import progress_bar

    with progress_bar(total=len(futures), desc=desc, unit="task", progress=show_progress(progress), leave=False) as bar:
        for _ in as_completed(futures):
            bar.update(1)


def gather(futures, desc: str, progress: bool | None):
    """Results of ``futures`` in order, with a tqdm bar over their completion."""
    wait(futures, desc, progress)
    return [f.result() for f in futures]
