"""The ``layerlab`` command. One module per command or command group, named as the command, holds
its parser and its printing: ``scan``, ``summary``, ``report``, ``diff``, ``check``, ``bloat``,
``registry`` (registry ...), ``cache`` (registry layer blobs), ``fleet`` (fleet ...), ``notebooks``
(copy the notebooks out). ``arguments`` holds the arguments they share (the source, ``--driver``,
``--platform``, ``--insecure``, ``--json``, ``-q``/``--verbose``) and opens a source for all of them;
``output`` how they print (width, escaping, warnings by kind).

Only argparse is imported to build the parser, so ``--help`` and ``--version`` answer at once; each
command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from .._version import __version__
from ..errors import LayerlabError

#: The modules of this package that add subcommands, in the order ``--help`` lists them.
COMMANDS = ("scan", "summary", "report", "diff", "check", "bloat", "packages", "registry", "pull_cost", "cache",
            "fleet", "notebooks")


def build_parser() -> argparse.ArgumentParser:
    return _parser(COMMANDS)[0]


def _parser(modules) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    p = argparse.ArgumentParser(prog="layerlab", description="Look inside Docker image storage.")
    p.add_argument("--version", action="version", version=f"layerlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    for name in modules:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return p, sub


def _parser_for(argv: list[str]) -> argparse.ArgumentParser:
    """The parser of the command ``argv`` names when a module of that name adds it (building all
    twelve commands' took 16 ms of a scan); every command's otherwise (--help, --version, a typo)."""
    if argv and argv[0] in COMMANDS:
        p, sub = _parser((argv[0],))
        if argv[0] in sub.choices:
            return p
    return build_parser()


#: Errors of writing to the standard output (a full disk, /dev/full, a quota, a closed descriptor).
_OUTPUT_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EBADF)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser_for(argv)
    args = parser.parse_args(argv)
    # Arrow's own allocator (mimalloc) keeps the pages a scan frees for reuse: with the system's,
    # a scan's peak memory is 30-35 MB lower (measured: benchmarks/bench_scan.py). Read when pyarrow
    # is first imported, so it is set before any command runs; a value already set is kept.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    if sys.stdout is None:  # started with stdout closed (`>&-`): its descriptor could go to a file we open
        print("layerlab: error: standard output is closed; send it to a file or to /dev/null", file=sys.stderr)
        return 2
    import warnings

    caught: list = []
    try:
        # Warnings (skipped items above all) are gathered and printed once, by kind (output.py), not
        # as Python's one-per-item lines with a source line each: after the output and any error line.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code = args.func(args) or 0
            sys.stdout.flush()  # a full disk (/dev/full) is reported here, not lost at exit
    except LayerlabError as e:
        from .output import safe

        print(f"layerlab: error: {safe(e)}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into head and the like
        sys.stderr.close()
        return 0
    except OSError as e:
        if e.errno not in _OUTPUT_ERRNOS or e.filename is not None:
            raise
        print(f"layerlab: error: cannot write the output ({e.strerror}); free space, or send it elsewhere",
              file=sys.stderr)
        code = 2
    _report(caught, args)
    return code


def _report(caught, args) -> None:
    from .output import report_warnings

    report_warnings(caught, getattr(args, "opened", ()), quiet=getattr(args, "quiet", False),
                    verbose=getattr(args, "verbose", False))


def run() -> None:
    """The ``layerlab`` command: :func:`main`, then the process ends without tearing Python down.

    Freeing a scan's frames and the modules of pandas, pyarrow and dask one by one at exit took
    0.1-0.16 s of a 1.2 s ``scan``. By then the command has written and closed everything it makes
    (snapshots, pages, JSON; worker pools and clusters are shut down by the commands), so the
    standard streams are flushed and the process exits at once."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # a closed pipe (| head), a stream closed by main, or none
            pass
    os._exit(code)
