import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixtures_docker import overlay2_daemon, sample_registry, vfs_daemon  # noqa: E402,F401
