"""A displayed view rewrites its saved fallbacks when asked, so a notebook saved later and reopened
without its kernel shows the last state: the display goes out with a display id and
``refresh_saved_view`` sends an update of that id carrying the current HTML."""

import pytest

pytest.importorskip("IPython")
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from IPython.utils.capture import capture_output  # noqa: E402

from workbench.widgets._display import Displayable  # noqa: E402


class Counter(Displayable):
    def __init__(self):
        self.count = 0

    def to_html(self):
        return f"<b>{self.count} steps</b>"

    def to_text(self):
        return f"{self.count} steps"


def test_refresh_rewrites_the_displayed_fallback_in_place():
    InteractiveShell.instance()
    view = Counter()
    with capture_output() as captured:
        view.refresh_saved_view()  # never displayed: nothing to rewrite, nothing sent
        view._ipython_display_()
        view.count = 7
        view.refresh_saved_view()
    first, update = captured.outputs
    assert first.data["text/html"] == "<b>0 steps</b>" and not first.update
    assert update.update and update.data["text/html"] == "<b>7 steps</b>" and update.data["text/plain"] == "7 steps"
    assert update.transient["display_id"] == first.transient["display_id"]
