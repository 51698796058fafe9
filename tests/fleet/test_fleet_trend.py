"""Fleets over time: two hosts' data roots changed between nightly scans by real dockerds (images
built, pushed and pulled through a real registry, removed and pruned, a container writing to its
read-write layer), each scan written as ``HOST/DATE.layerlab`` by ``layerlab scan`` under that
day's clock (libfaketime) as its own host. The time series is checked against each snapshot's own
``layerlab summary --json``, and ``changes`` against what the days did.

web-a: day 1 base:1, app:1 (built; a 40 kB file), the writer container (wrote 20,000 bytes);
       day 2 app:1 rebuilt with 80 kB (the old one dangling), the writer wrote 20,000 more,
       tool:1 pulled from the registry; day 3 `docker image prune` (the old app:1 gone), tool:1 removed.
db-b:  day 1 base:1, tool:1 (built: a file copied then deleted, so reclaimable bytes), pushed;
       not scanned on day 2; day 3 db:1 built.
"""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import layerlab as ll
from harness.daemon import Daemon, dockerd_missing
from harness.fleetdata import scan_as
from harness.images import busybox_rootfs
from harness.registry import Registry, registry_missing
from harness.tiers import missing, require

DAYS = {1: "2026-11-01 02:17:00", 2: "2026-11-02 02:17:00", 3: "2026-11-03 02:17:00"}
IDS = {"web-a": "a" * 32, "db-b": "b" * 32}
WRITE = 20_000  # bytes the writer container appends to its read-write layer each time it runs


def build(daemon: Daemon, ctx: Path, ref: str, dockerfile: str, files: dict[str, bytes]) -> None:
    for rel, data in {"Dockerfile": dockerfile.encode(), **files}.items():
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        (ctx / rel).write_bytes(data)
    daemon.docker("build", "--network", "none", "-q", "-t", ref, str(ctx), timeout=600)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """The snapshots folder (``HOST/DATE.layerlab``) and what the days did."""
    require(dockerd_missing() or registry_missing() or missing(root=True, programs=("unshare", "mount", "faketime")))
    work = tmp_path_factory.mktemp("fleet-trend")
    snaps = work / "snapshots"
    rootfs = busybox_rootfs(work / "rootfs")
    web, db = Daemon(work / "web-a"), Daemon(work / "db-b")
    facts = {}

    def scan(host: str, daemon: Daemon, day: int) -> None:
        daemon.stop()  # a settled data root, as after a night's work
        scan_as(host, IDS[host], daemon.data_root, snaps / host / f"2026-11-0{day}.layerlab", work, at=DAYS[day])

    with Registry(work / "registry") as reg:
        tool = f"{reg.host}/fleet/tool:1"
        try:
            db.start()
            db.docker("import", "--change", 'CMD ["/bin/sh"]', str(rootfs), "fleet/base:1")
            build(db, work / "tool", tool, "FROM fleet/base:1\nCOPY big.bin /opt/big.bin\nRUN rm /opt/big.bin\n",
                  {"big.bin": b"t" * 30_000})
            db.docker("push", "-q", tool, timeout=600)
            scan("db-b", db, 1)

            web.start()
            web.docker("import", "--change", 'CMD ["/bin/sh"]', str(rootfs), "fleet/base:1")
            build(web, work / "app1", "fleet/app:1", "FROM fleet/base:1\nCOPY data.bin /srv/data.bin\n",
                  {"data.bin": b"a" * 40_000})
            facts["app_1"] = web.docker("image", "inspect", "-f", "{{.Id}}", "fleet/app:1").stdout.strip()
            web.docker("create", "--name", "writer", "--network", "none", "fleet/base:1",
                       "sh", "-c", f"head -c {WRITE} /dev/zero >> /var/log/grow.bin")
            web.docker("start", "-a", "writer")
            scan("web-a", web, 1)

            web.start()
            build(web, work / "app2", "fleet/app:1", "FROM fleet/base:1\nCOPY data.bin /srv/data.bin\n",
                  {"data.bin": b"b" * 80_000})
            facts["app_2"] = web.docker("image", "inspect", "-f", "{{.Id}}", "fleet/app:1").stdout.strip()
            web.docker("start", "-a", "writer")
            web.docker("pull", "-q", tool, timeout=600)
            facts["tool"] = web.docker("image", "inspect", "-f", "{{.Id}}", tool).stdout.strip()
            scan("web-a", web, 2)

            web.start()
            web.docker("image", "prune", "-f")
            web.docker("rmi", tool)
            scan("web-a", web, 3)

            db.start()
            build(db, work / "db", "fleet/db:1", "FROM fleet/base:1\nCOPY schema.sql /srv/schema.sql\n",
                  {"schema.sql": b"create table t (x int);\n" * 100})
            scan("db-b", db, 3)
        finally:
            web.stop()
            db.stop()
    return snaps, facts


def summary_json(snapshot: Path) -> dict:
    r = subprocess.run([sys.executable, "-m", "layerlab.cli", "summary", str(snapshot), "--json"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def summaries(history):
    snaps, _ = history
    return {(p.parent.name, p.name[:10]): summary_json(p) for p in sorted(snaps.glob("*/*.layerlab"))}


@pytest.fixture(scope="module")
def fleet(history, dask_cluster):
    snaps, _ = history
    with ll.fleet(str(snaps), client=dask_cluster.address) as f:
        yield f


@pytest.mark.live
def test_every_scan_is_a_point_of_its_hosts_series(fleet, summaries):
    assert fleet.skipped.empty
    assert sorted(fleet.hosts["host"]) == ["db-b", "web-a"]  # the newest scans are the fleet
    assert len(fleet.timeline) == len(summaries) == 5
    t = fleet.trend()
    assert list(t.columns) == ["host", "time", "snapshot", "images", "size_bytes", "reclaimable_bytes",
                               "dangling_images"]
    assert [(h, str(d.date())) for h, d in zip(t["host"], t["time"])] == [
        ("db-b", "2026-11-01"), ("db-b", "2026-11-03"),
        ("web-a", "2026-11-01"), ("web-a", "2026-11-02"), ("web-a", "2026-11-03")]


@pytest.mark.live
def test_each_point_is_counted_as_summary_counts_it(fleet, summaries):
    t = fleet.trend()
    for r in t.itertuples(index=False):
        s = summaries[(r.host, str(r.time.date()))]["totals"]
        assert (r.images, r.size_bytes, r.reclaimable_bytes, r.dangling_images) == (
            s["images"], s["physical_size"], s["reclaimable_bytes"], s["dangling_images"]), (r.host, r.time)
    web = t[t["host"] == "web-a"].set_index(t[t["host"] == "web-a"]["time"].dt.day)
    assert web.loc[2, "dangling_images"] == 1 and web.loc[3, "dangling_images"] == 0  # the old app:1, then pruned
    assert web.loc[2, "size_bytes"] > web.loc[1, "size_bytes"] > 0
    assert t.loc[t["host"] == "db-b", "reclaimable_bytes"].min() >= 30_000  # tool's deleted big.bin


@pytest.mark.live
def test_fleet_wide_per_day_carries_a_host_forward(fleet):
    per = fleet.trend().assign(day=lambda d: d["time"].dt.day).set_index(["host", "day"])
    days = fleet.trend(by="date").set_index(fleet.trend(by="date")["date"].dt.day)
    assert list(days.index) == [1, 2, 3]
    # day 2: web-a scanned; db-b not, so it counts with its day-1 scan
    assert (days.loc[2, "hosts"], days.loc[2, "hosts_scanned"]) == (2, 1)
    for day, pick in {1: {"web-a": 1, "db-b": 1}, 2: {"web-a": 2, "db-b": 1}, 3: {"web-a": 3, "db-b": 3}}.items():
        for col in ("size_bytes", "reclaimable_bytes", "dangling_images"):
            assert days.loc[day, col] == sum(per.loc[(h, d), col] for h, d in pick.items()), (day, col)
        assert days.loc[day, "image_instances"] == sum(per.loc[(h, d), "images"] for h, d in pick.items())
    assert days.loc[3, "size_bytes"] == fleet.summary()["size_bytes"]  # the last day is the fleet of newest scans


@pytest.mark.live
def test_changes_since_the_first_day(fleet, history, summaries):
    _, facts = history
    ch = fleet.changes(since="2026-11-01T12:00Z")
    web = ch[ch["host"] == "web-a"]
    rows = {(r.kind, r.id): r for r in web.itertuples(index=False)}
    assert rows[("image", facts["app_1"])].change == "went away"
    assert rows[("image", facts["app_2"])].change == "appeared"
    tag = rows[("tag", facts["app_2"])]
    assert (tag.name, tag.change, tag.growth) == ("fleet/app:1", "grew", 80_000 - 40_000)  # data.bin grew
    assert ("image", facts["tool"]) not in rows  # pulled on day 2, removed on day 3: no change since day 1
    (writer,) = [r for r in web.itertuples(index=False) if r.kind == "container"]
    before = summaries[("web-a", "2026-11-01")]["containers"][0]["rw_size"]
    after = summaries[("web-a", "2026-11-03")]["containers"][0]["rw_size"]
    assert (writer.name, writer.change, writer.size_before, writer.size_after) == ("writer", "grew", before, after)
    assert writer.growth == after - before >= WRITE
    # layers: exactly the distinct layers of the listed images that differ between the two scans
    def layers(snap):
        il = ll.load(snap).image_layers
        return dict(zip(il["layer_id"], il["size"]))
    snaps, _ = history
    old, new = layers(snaps / "web-a" / "2026-11-01.layerlab"), layers(snaps / "web-a" / "2026-11-03.layerlab")
    got = {r.id: r.change for r in web.itertuples(index=False) if r.kind == "layer"}
    assert got == {**{k: "appeared" for k in new.keys() - old.keys()},
                   **{k: "went away" for k in old.keys() - new.keys()}}
    assert got  # the rebuilt app's layer
    db = ch[ch["host"] == "db-b"]
    assert set(db.loc[db["kind"] == "image", "change"]) == {"appeared"}
    assert ch.attrs["not_compared"] == []


@pytest.mark.live
def test_changes_against_the_previous_scan(fleet, history):
    _, facts = history
    ch = fleet.changes()
    web = ch[ch["host"] == "web-a"]
    gone = set(web.loc[(web["kind"] == "image") & (web["change"] == "went away"), "id"])
    assert gone == {facts["tool"], facts["app_1"]}  # removed and pruned on day 3
    assert not ((web["kind"] == "image") & (web["change"] == "appeared")).any()
    assert (web["growth"] <= 0).all()
    assert web["growth"].is_monotonic_decreasing


@pytest.mark.live
def test_changes_since_refuses_a_non_date(fleet):
    with pytest.raises(ll.LayerlabError, match="give a date"):
        fleet.changes(since="last tuesday-ish")


@pytest.mark.live
def test_cli_trend_json(history):
    snaps, _ = history
    r = subprocess.run([sys.executable, "-m", "layerlab.cli", "fleet", "trend", str(snaps), "--json"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    keys = sorted(["host", "time", "images", "size_bytes", "reclaimable_bytes", "dangling_images"])
    assert [sorted(s) for s in data["snapshots"]] == [keys] * 5
    for s in data["snapshots"]:
        snap = snaps / s["host"] / f"{s['time'][:10]}.layerlab"
        t = summary_json(snap)["totals"]
        assert (s["images"], s["size_bytes"], s["reclaimable_bytes"], s["dangling_images"]) == (
            t["images"], t["physical_size"], t["reclaimable_bytes"], t["dangling_images"])
        assert pd.Timestamp(s["time"]).tz is not None
    assert [d["date"] for d in data["fleet"]] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    text = subprocess.run([sys.executable, "-m", "layerlab.cli", "fleet", "trend", str(snaps)], capture_output=True,
                          text=True, timeout=600)
    assert text.returncode == 0 and "2026-11-02" in text.stdout and "web-a" in text.stdout


def test_a_folder_of_series_is_one_note_not_a_line_per_scan(tmp_path):
    """Hosts cut from the bundled captures, each scanned on three days (HOST/DATE.layerlab): the
    fleet is the newest scans, and the CLI says in one line that the older ones were replaced."""
    from layerlab.fleet.demo import make_history

    make_history(tmp_path / "series", 6, 3)
    r = subprocess.run([sys.executable, "-m", "layerlab.cli", "fleet", "summary", str(tmp_path / "series"), "--json"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["hosts"] == 6
    assert r.stderr.count("note:") == 1  # one note, wrapped to the width, not a line per older scan
    assert " ".join(r.stderr.split()).count("note: 12 older scans of 6 hosts replaced by each host's newest "
                                            "(`layerlab fleet trend` reads them as a time series)") == 1
