"""Waiting for a fleet's tasks on the cluster, with a progress bar: what Fleet and the fleet analyses share."""

from __future__ import annotations

import sys


def show_progress(progress: bool | None) -> bool:
    """Whether to draw progress bars: as asked, or by default when stderr is a terminal (quiet
    when piped, under cron, in a notebook rendered to a report)."""
    return sys.stderr.isatty() if progress is None else bool(progress)


def wait(futures, desc: str, progress: bool | None, sizes: list[int] | None = None, unit: str = "task") -> None:
    """Wait for ``futures`` with a tqdm bar over their completion (on stderr, or a notebook widget).
    ``sizes``: what each future stands for (its batch's hosts), so that the bar counts ``unit``
    (hosts, snapshots) rather than tasks: 10,000 hosts are 40 tasks, a bar of 40 is coarse."""
    from distributed import as_completed
    from ..display import progress_bar

    if sizes is None:
        sizes, unit = [1] * len(futures), "task"
    weight = dict(zip((f.key for f in futures), sizes))
    with progress_bar(total=sum(sizes), desc=desc, unit=f" {unit}", progress=show_progress(progress),
                      leave=False) as bar:
        for done in as_completed(futures):
            bar.update(weight.get(done.key, 1))


def gather(futures, desc: str, progress: bool | None, sizes: list[int] | None = None, unit: str = "task"):
    """Results of ``futures`` in order, with a tqdm bar over their completion (``wait``)."""
    wait(futures, desc, progress, sizes, unit)
    return [f.result() for f in futures]
