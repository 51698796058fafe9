"""Fixtures for the view tests (plots, widgets, reports, notebooks): the bundled sample, Agg backend."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import layerlab as ll  # noqa: E402
from pathlib import Path  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="session")
def sample():
    """The bundled overlay2 sample (a real capture); its sample roles are in data/README.md."""
    return ll.sample()


@pytest.fixture
def ax():
    fig, ax = plt.subplots(figsize=(9, 5))
    yield ax
    plt.close(fig)


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
