"""The test fleet's hosts (shared by conftest.py and the tests; a module of its own because
every test folder has a conftest and only one can be imported as ``conftest``)."""

# (hostname, sample driver, images kept (tags; None = all), containers kept (names; None = all), scanned_at)
HOSTS = [
    ("web-1", "overlay2", None, None, "2026-11-28T07:00:00+00:00"),
    ("web-2", "overlay2",
     ["layerlab/app:1", "layerlab/base:1", "layerlab/tree:1", "127.0.0.1:5000/overlay2/layerlab/multi:1"],
     [], "2026-11-28T07:00:00+00:00"),
    ("web-3", "overlay2", None, ["ll-exited"], "2026-11-28T07:05:00+00:00"),
    ("ci-1", "vfs", None, None, "2026-11-28T07:00:00+00:00"),
    ("ci-2", "vfs", ["layerlab/app:1", "layerlab/base:1", "layerlab/bloat:1", "127.0.0.1:5000/vfs/layerlab/multi:1"],
     ["ll-created"], "2026-11-28T07:00:00+00:00"),
    ("db-1", "containerd", ["layerlab/app:1", "layerlab/bloat:1"], None, "2026-11-28T07:00:00+00:00"),
]
# An older scan of web-2 (all images): the newer one above must win.
OLD = ("web-2", "overlay2", None, None, "2026-11-27T07:00:00+00:00")
