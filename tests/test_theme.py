"""The theme's colours pass WCAG AA (4.5:1) for every text/background pair a view uses, in both
palettes, computed by the WCAG 2 relative-luminance formula; figures come out as SVG that follows
the theme (no sentinel colour left, no background slab)."""

import re

import pytest

from workbench import theme

PAIRS = [("fg", "bg"), ("fg", "bg-alt"), ("fg-muted", "bg"), ("fg-muted", "bg-alt"), ("select-fg", "select-bg"),
         ("warn-fg", "warn-bg"), ("on-accent", "accent"), ("error-fg", "bg"), ("ok-fg", "bg"), ("accent", "bg")]


def luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula_on_known_pairs():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic near-miss grey


@pytest.mark.parametrize("palette, chips", [(theme.LIGHT, theme.CHIPS_LIGHT), (theme.DARK, theme.CHIPS_DARK)])
def test_every_text_pair_passes_aa(palette, chips):
    low = {f"{fg} on {bg}": round(contrast(palette[fg], palette[bg]), 2) for fg, bg in PAIRS}
    low.update({f"chip-fg on chip {i}": round(contrast(palette["chip-fg"], chip), 2) for i, chip in enumerate(chips)})
    assert {pair: ratio for pair, ratio in low.items() if ratio < 4.5} == {}


def test_css_switches_palettes_by_host_theme():
    css = theme.VIEW_CSS
    assert 'body[data-jp-theme-light="false"] .wb-view' in css and "prefers-color-scheme: dark" in css
    assert "var(--jp-ui-font-color1, " in css  # JupyterLab's own text colour when present
    assert theme.chip_colour(9) == "var(--wb-chip-1)"


def test_figure_svg_uses_theme_variables_and_no_background():
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    with theme.figure_theme():
        figure = Figure(figsize=(3, 2))
        axes = figure.add_subplot()
        axes.plot([1, 2, 3], label="loss")
        axes.legend()
        axes.set_title("curve")
    svg = theme.figure_svg(figure, "a loss curve")
    assert svg.startswith('<svg role="img" aria-label="a loss curve"')
    assert not set(re.findall(r"#[0-9a-f]{6}", svg, re.IGNORECASE)) & set(theme.SENTINELS)
    assert "var(--wb-fg)" in svg and "<text" in svg  # text kept as text, coloured by the theme
    assert "fill: #ffffff" not in svg.lower()
