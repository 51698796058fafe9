"""The arguments every command shares, written once: the source and its help, ``--driver``,
``--platform``, the registry options (``--insecure`` ...), ``--json``, ``-q``/``--verbose``; and
:func:`open_source_arg`, the one way a command opens the source it was given."""

from __future__ import annotations

import argparse
import os

#: Every source form the README lists, in the words ``--help`` shows.
SOURCE_FORMS = ("data root (e.g. /var/lib/docker), containers-storage root, .layerlab snapshot, "
                "docker-archive:PATH, oci:DIR[:REF], oci-archive:PATH[:REF], docker://REF, "
                "containers-storage:[REF], a bare archive or layout path, or 'sample'")


def add_source(parser: argparse.ArgumentParser, *, default_sample: bool = False, dest: str = "source",
               metavar: str | None = None) -> None:
    """The positional source, with the help every command gives for it."""
    if default_sample:
        parser.add_argument(dest, nargs="?", default="sample", metavar=metavar,
                            help=f"{SOURCE_FORMS} (default)")
    else:
        parser.add_argument(dest, metavar=metavar, help=SOURCE_FORMS)


def add_image(parser: argparse.ArgumentParser, *, optional: bool = True) -> None:
    """The image argument; optional where a source holding one image implies it."""
    if optional:
        parser.add_argument("image", nargs="?", help="tag, ID or ID prefix (optional when the source holds one image, "
                                                     "e.g. docker://REF)")
    else:
        parser.add_argument("image", help="tag, ID or ID prefix")


def add_driver(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--driver", help="storage driver, when the root holds several image stores")


def add_platform(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--platform", help="os/arch[/variant] to read from a docker:// index (default: this host's) "
                                           "or an OCI layout (default: all)")


def add_insecure(parser: argparse.ArgumentParser) -> None:
    """The one plain-HTTP rule of every command that may reach a registry."""
    parser.add_argument("--insecure", action="append", metavar="HOST", default=[],
                        help="allow plain HTTP to HOST[:PORT] (loopback hosts are always allowed, as with docker; "
                             "repeatable)")


def add_registry_client(parser: argparse.ArgumentParser) -> None:
    """``--insecure`` and the options of ``layerlab registry``'s client."""
    add_insecure(parser)
    parser.add_argument("--ca-file", help="CA bundle to trust for the registry's TLS certificate")
    parser.add_argument("--docker-config", help="docker config.json for credentials (default: ~/.docker/config.json)")
    parser.add_argument("--cache-dir", help="cache for manifests and configs (default: ~/.cache/layerlab/registry)")
    parser.add_argument("--no-cache", action="store_true", help="do not cache manifests and configs on disk")


def add_json(parser: argparse.ArgumentParser, help: str = "machine-readable output (stable interface)") -> None:
    parser.add_argument("--json", action="store_true", help=help)


def add_verbosity(parser: argparse.ArgumentParser) -> None:
    """``-q`` (no progress, no warnings) and ``--verbose`` (each warning on its own line)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", help="no progress bars and no warnings")
    group.add_argument("-v", "--verbose", action="store_true", help="list every skipped item and warning, one a line")


def add_common(parser: argparse.ArgumentParser, *, platform: bool = True) -> None:
    """--driver, --platform, --insecure, -q/--verbose: what every command reading a source takes."""
    add_driver(parser)
    if platform:
        add_platform(parser)
    add_insecure(parser)
    add_verbosity(parser)


def top_count(text: str) -> int:
    """``--top N``: 1 or more (argparse says so on anything else, instead of a traceback later)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a whole number of rows, 1 or more (got {text!r})") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"takes a whole number of rows, 1 or more (got {value})")
    return value


def progress_of(args) -> bool | None:
    """The ``progress`` a command passes on: None (a bar on a terminal only), False for ``-q`` or ``--json``."""
    if getattr(args, "quiet", False) or getattr(args, "json", False):
        return False
    return None


def allow_insecure(args) -> None:
    """``--insecure HOST``: plain HTTP allowed to HOST for every registry access of the command (the
    registry client reads ``$LAYERLAB_INSECURE_REGISTRIES``; report kernels inherit it)."""
    hosts = list(getattr(args, "insecure", None) or [])
    if hosts:
        from ..sources.registry.client import INSECURE_ENV

        known = [h for h in os.environ.get(INSECURE_ENV, "").split(",") if h]
        os.environ[INSECURE_ENV] = ",".join(dict.fromkeys(known + hosts))


def check_source(source: str) -> str:
    """``source`` if it is a form layerlab reads; a URL of another scheme is refused saying what is taken."""
    from ..errors import NotADataRoot

    scheme, sep, _ = source.partition("://")
    if sep and scheme != "docker" and "/" not in scheme and not _snapshot_url(scheme, source):
        raise NotADataRoot(f"{source}: layerlab does not read {scheme}:// sources; give a {SOURCE_FORMS}",
                           path=source)
    return source


def _snapshot_url(scheme: str, source: str) -> bool:
    """A snapshot at an fsspec URL (``s3://bucket/host.layerlab``), as scan writes and fleet reads them."""
    if scheme == "s3":
        return True
    from fsspec.registry import get_filesystem_class, known_implementations

    if scheme not in known_implementations or not source.rstrip("/").endswith(".layerlab"):
        return False
    try:
        get_filesystem_class(scheme)
    except ImportError as e:  # fsspec says which package reads it (gcsfs, adlfs, ...)
        from ..errors import NotADataRoot

        raise NotADataRoot(f"{source}: {e}", path=source) from None
    return True


def open_source_arg(args, source: str | None = None, **options):
    """The Inventory of the source a command was given, by the same rules for every command: every
    form in ``SOURCE_FORMS``; ``docker://`` with the command's ``--insecure`` hosts (loopback always
    allowed); anything else refused with a LayerlabError saying what is taken."""
    from ..sources import open_source

    source = check_source(args.source if source is None else source)
    allow_insecure(args)
    kwargs = {"driver": getattr(args, "driver", None), "platform": getattr(args, "platform", None),
              "progress": progress_of(args)}
    kwargs.update(options)
    inv = open_source(source, **kwargs)
    remember(args, inv)
    return inv


def remember(args, inv) -> None:
    """Keep ``inv`` on ``args``: what it skipped is reported once the command ends (cli.main)."""
    args.opened = [*getattr(args, "opened", ()), inv]


def registry_client(args):
    """A RegistryClient with the command's registry options (those it has)."""
    from ..sources.registry import RegistryClient

    return RegistryClient(
        docker_config=getattr(args, "docker_config", None), insecure=getattr(args, "insecure", None) or (),
        verify=getattr(args, "ca_file", None) or True,
        cache_dir=False if getattr(args, "no_cache", False) else getattr(args, "cache_dir", None),
    )


def skipped_json(*inventories) -> list[dict]:
    """What the sources could not read, for a command's ``--json`` (``skipped``, as summary lists it)."""
    from ..analyses.summary import skipped_list

    out: list[dict] = []
    for inv in dict.fromkeys(inventories):  # one source given twice is listed once
        out += [s for s in skipped_list(inv) if s not in out]
    return out


def only_image(inv, source: str) -> str:
    """The name of a source's one image (docker://REF, an archive of one, containers-storage:REF), for
    commands whose image argument may then be left out."""
    from ..errors import LayerlabError

    from .output import count, safe

    images = inv.listed  # counted as summary counts them: what `docker images` lists
    if len(images) != 1:
        raise LayerlabError(f"{safe(source)} holds {count(len(images), 'image')}; name one (tag, ID or ID prefix)")
    tags = images["tags"].iloc[0]
    return tags[0] if len(tags) else images["image_id"].iloc[0]
