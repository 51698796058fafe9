"""The measured workloads as shell scripts for the driver measurements (scripts/measure_drivers.py).

The writes themselves are the library's (``layerlab.analyses.drivers.cow_model``): the same ``Write`` objects
are simulated there and run here in real containers.
"""

from __future__ import annotations

from layerlab.analyses.drivers.cow_model import IMAGE, OPS, WORKLOADS, Write  # noqa: F401  (what the measurements use)


def script(writes) -> str:
    """One ``sh -c`` script running ``writes`` in order (``true`` for none), stopping at the first failure."""
    return "; ".join(["set -e", *(w.shell() for w in writes)]) if writes else "true"


def container_name(workload: str) -> str:
    return f"ll-wl-{workload.replace('_', '-')}"
