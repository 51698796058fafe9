"""Offline tier: a progress bar in Jupyter is a widget while it runs and leaves text behind: a notebook saved
after the run shows text, not "Error displaying widget: model not found" (issue 27)."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

WIDGET = "application/vnd.jupyter.widget-view+json"


def test_a_finished_bar_leaves_text_not_a_widget_in_the_saved_notebook():
    code = ("from layerlab.display import progress_bar\n"
            "for _ in progress_bar(range(3), progress=True, desc='kept', leave=True):\n    pass\n"
            "for _ in progress_bar(range(3), progress=True, desc='gone', leave=False):\n    pass\n"
            "import tqdm.auto, tqdm.notebook\nprint(issubclass(tqdm.auto.tqdm, tqdm.notebook.tqdm))")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert outputs[-1].get("text", "").strip() == "True"  # the kernel did draw notebook bars
    shown = [o for o in outputs if o.output_type in ("display_data", "update_display_data")]
    assert len(shown) == 2
    assert not any(WIDGET in o.get("data", {}) for o in shown), shown
    texts = [o["data"]["text/plain"] for o in shown]
    assert "kept" in texts[0] and "3/3" in texts[0]
    assert texts[1] == ""
