"""What a report's kernel sets up before the first cell runs (from an IPython startup file that
``run.execute`` writes): DataFrames display as report tables (``tables.table_html``)."""

from __future__ import annotations


def setup() -> None:
    """Register the report table formatter for pandas DataFrames in the running IPython kernel."""
    import pandas as pd
    from IPython import get_ipython

    from ..tables import table_html

    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, table_html)


#: The IPython startup file: runs in the kernel before any cell.
STARTUP = "from layerlab.reports.kernel import setup\nsetup()\n"
