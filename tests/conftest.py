import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixtures_docker import (  # noqa: E402,F401
    btrfs_daemon,
    fuse_overlayfs_daemon,
    overlay2_daemon,
    overlay_daemon,
    sample_registry,
    vfs_daemon,
)
