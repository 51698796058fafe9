"""Reports: run the notebooks on a source with parameters and render them to self-contained HTML.

    import layerlab.reports as reports
    reports.render_all("/var/lib/docker", "reports/")            # every notebook + index.html
    reports.render("notebooks/02-layers-and-waste.ipynb", "out.html", image="app:1")

``params`` (papermill's parameters contract), ``run`` (executing and rendering), ``index`` (the index
page and the "about" line), ``inputs`` (registry inputs and optional sources for the notebooks).
"""

from .index import About, about, about_html, note
from .inputs import (audit_or_none, available, object_store_audit_or_none, registry_blobs, registry_frames_or_none,
                     sample_capture)
from .params import (check_parameters, coerce_value, inject_parameters, known_parameters, notebooks, notebooks_dir,
                     parameters)
from .run import execute, render, render_all, to_html

__all__ = [
    "About", "about", "about_html", "note", "audit_or_none", "available", "object_store_audit_or_none", "check_parameters", "coerce_value", "execute",
    "inject_parameters", "known_parameters", "notebooks", "notebooks_dir", "parameters", "registry_blobs",
    "registry_frames_or_none", "render", "render_all", "sample_capture", "to_html",
]
