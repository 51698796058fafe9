"""``scan --hash`` progress counts every byte it reads, not first blocks only (issue 17)."""

from __future__ import annotations

import random
import warnings

from tqdm.auto import tqdm

import layerlab as ll
from layerlab.analyses import hashing

BIG = 4 << 20


class _Recorded(tqdm):
    """The real tqdm, keeping each bar so the test can read its count and total once it is closed."""

    bars: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _Recorded.bars.append(self)


def test_hash_progress_counts_the_bytes_hashed(root_copy, monkeypatch):
    diff = next(p for p in sorted((root_copy / "overlay2").iterdir()) if (p / "diff").is_dir()) / "diff"
    data = random.Random(7).randbytes(BIG)
    (diff / "twin-a.bin").write_bytes(data)
    (diff / "twin-b.bin").write_bytes(data)
    # the same first block as the twins, different after it: read to the end too, and no twin
    (diff / "late-difference.bin").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    monkeypatch.setattr("tqdm.auto.tqdm", _Recorded)  # display.progress_bar takes tqdm.auto's bar when it runs
    _Recorded.bars.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inv = ll.open_root(str(root_copy), files="walk", progress=False)
        hashing.fill_sha256(inv, progress=True)
    twins = inv.files[inv.files["path"].isin(["/twin-a.bin", "/twin-b.bin"])]
    assert twins["sha256"].nunique() == 1 and twins["sha256"].notna().all()
    bar = _Recorded.bars[-1]
    rests = 3 * (BIG - hashing.FIRST_BLOCK)  # the three big files are read past their first block
    assert bar.total >= rests + 3 * hashing.FIRST_BLOCK, f"the bar's total ({bar.total}) leaves out the rests"
    assert bar.n == bar.total, f"counted {bar.n} of {bar.total} bytes"
