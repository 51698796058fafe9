"""Reports: run the notebooks on a source with parameters and render them to self-contained HTML.

    import layerlab.reports as reports
    reports.render_all("/var/lib/docker", "reports/")            # every notebook + index.html
    reports.render("notebooks/02-layers-and-waste.ipynb", "out.html", image="app:1")

``params`` (papermill's parameters contract), ``page`` (one notebook run and rendered), ``run``
(the whole report), ``index`` (the index page and the "about" line), ``inputs`` (registry inputs
and optional sources for the notebooks). Names load on first use: a report's page workers import
``page`` alone, without pandas or the widgets.
"""

from __future__ import annotations

from .._lazy import attach

#: Public name -> the module that defines it.
_LAZY = {
    **dict.fromkeys(["About", "about", "about_html", "bundled_note", "is_sample", "note"], ".index"),
    **dict.fromkeys(["audit_or_none", "available", "object_store_audit_or_none", "registry_blobs",
                     "registry_frames_or_none", "sample_capture"], ".inputs"),
    **dict.fromkeys(["check_parameters", "coerce_value", "inject_parameters", "known_parameters", "notebooks",
                     "notebooks_dir", "parameters"], ".params"),
    **dict.fromkeys(["execute", "render", "to_html"], ".page"),
    "render_all": ".run",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = attach(__name__, _LAZY, globals())
