"""``layerlab cache``: what the layer cache of ``docker://`` sources holds, and emptying it."""

from __future__ import annotations

from ..display import human_bytes
from .output import count as counted


def cmd_cache(args) -> int:
    from ..sources.registry.image import LayerCache

    cache = LayerCache(args.dir)
    if args.action == "clear":
        count, size = cache.clear()
        print(f"removed {counted(count, 'layer blob')}, {human_bytes(size)} ({size:,} bytes) from {cache.directory}")
        return 0
    count, size = cache.usage()
    print(f"{cache.directory}: {counted(count, 'layer blob')}, {human_bytes(size)} ({size:,} bytes); "
          f"bound {human_bytes(cache.max_bytes)} (LAYERLAB_LAYER_CACHE_BYTES)")
    return 0


def add_parser(subparsers) -> None:
    s = subparsers.add_parser("cache", help="show or clear the cache of registry layer blobs (docker:// sources)")
    s.add_argument("action", nargs="?", choices=("info", "clear"), default="info", help="info (default) or clear")
    s.add_argument("--dir", help="cache directory (default ~/.cache/layerlab/layers)")
    s.set_defaults(func=cmd_cache)
