"""``layerlab report``: the notebooks run on a source and rendered to HTML."""

from __future__ import annotations

from ..errors import LayerlabError
from .arguments import add_driver, add_insecure, add_source, allow_insecure, check_source


def cmd_report(args) -> int:
    from ..reports.page import skip_iri_format_checker
    from ..reports.run import render_all

    skip_iri_format_checker()  # this process is the report's own

    params = {}
    for item in args.param or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise LayerlabError(f"--param takes key=value, got {item!r}")
        params[key] = value
    check_source(args.source)
    allow_insecure(args)  # the kernels inherit the plain-HTTP hosts with the environment
    index = render_all(args.source, args.output, params=params, driver=args.driver, show_code=args.show_code,
                       jobs=args.jobs, force=args.force)
    url = index.resolve().as_uri()
    print(f"report written: {url}")
    if args.open:
        import webbrowser

        webbrowser.open(url)
    return 0


def add_parser(sub) -> None:
    s = sub.add_parser("report", help="run the notebooks on a source and render them to HTML")
    add_source(s, default_sample=True)
    s.add_argument("-o", "--output", default="reports", help="output directory (default: reports/)")
    s.add_argument("--force", action="store_true",
                   help="overwrite files of a page's name in the output directory that no layerlab report wrote")
    add_driver(s)
    add_insecure(s)
    s.add_argument("--param", action="append", metavar="KEY=VALUE", help="notebook parameter (repeatable)")
    s.add_argument("--show-code", action="store_true", help="keep the notebooks' code cells on the pages")
    s.add_argument("-j", "--jobs", type=int, metavar="N",
                   help="notebooks run at once, one kernel each (default: one per CPU)")
    s.add_argument("--open", action="store_true", help="open the index page in a browser when done")
    s.set_defaults(func=cmd_report)
