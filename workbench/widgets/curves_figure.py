"""The ``TrainingCurves`` figure: a panel per kind of series (loss, learning rate, grad norm,
metrics), every run overlaid, drawn as inline SVG that follows the notebook's theme, with a hover
target per point whose ``<title>`` the browser shows as a tooltip (step, epoch, value).

One run: a colour per series. Several runs: a colour per run and a line style per series, each
legend entry ``run · series``. With smoothing, the raw series is drawn faint under its EMA.
"""

from __future__ import annotations

from html import escape

from ..theme import figure_svg, figure_theme
from ._display import figure_png, new_figure
from .training_runs import NOT_SMOOTHED, Run, ema

LINE_STYLES = ("-", "--", ":", "-.")
MAX_HOVER_POINTS = 250  # per series: enough to read a curve, few enough to keep the SVG small
# the hover targets: invisible until pointed at, then a dot in the text colour
FIGURE_CSS = (".wb-curves-figure svg{max-width:100%;height:auto}"
              ".wb-curves-figure .wb-point{fill:var(--wb-fg);fill-opacity:0;stroke:none}"
              ".wb-curves-figure .wb-point:hover{fill-opacity:0.6}")


def number(value: float) -> str:
    return f"{value:.4g}"


def panels(runs: list[Run]) -> list[tuple[str, list[str]]]:
    """(title, series names) for each panel that has data in any run."""
    keys: list[str] = []
    for run in runs:
        keys += [key for key in run.series if key not in keys]
    fixed = ("loss", "eval_loss", "learning_rate", "grad_norm")
    groups = [("loss", [k for k in ("loss", "eval_loss") if k in keys]),
              ("learning rate", [k for k in ("learning_rate",) if k in keys]),
              ("grad norm", [k for k in ("grad_norm",) if k in keys]),
              ("metrics", [k for k in keys if k not in fixed])]
    return [(title, names) for title, names in groups if names]


def _style(run_index: int, name_index: int, name: str, several_runs: bool, points: int) -> dict:
    colour = f"C{run_index if several_runs else name_index}"
    style = dict(color=colour, linestyle=LINE_STYLES[name_index % len(LINE_STYLES)] if several_runs else "-")
    if name.startswith("eval_") or points == 1:
        style.update(marker="o", markersize=3)
    return style


def _draw_panel(ax, title: str, names: list[str], runs: list[Run], smoothing: float, log_y: bool) -> list:
    """Draw one panel; return its hover points ``(x, y, tooltip)``."""
    several = len(runs) > 1
    hover, values_seen = [], []
    for run_index, run in enumerate(runs):
        for name_index, name in enumerate(names):
            points = run.series.get(name)
            if not points:
                continue
            steps, values = [p[0] for p in points], [p[1] for p in points]
            values_seen += values
            label = f"{run.label} · {name}" if several else name
            style = _style(run_index, name_index, name, several, len(points))
            smoothed = values
            if smoothing > 0 and name not in NOT_SMOOTHED and len(points) > 1:
                smoothed = ema(values, smoothing)
                ax.plot(steps, values, alpha=0.25, **{k: v for k, v in style.items() if k != "marker"})
            ax.plot(steps, smoothed, label=label, **style)
            every = max(1, len(points) // MAX_HOVER_POINTS)
            for index in sorted({*range(0, len(points), every), len(points) - 1}):
                step, value = points[index]
                epoch = run.epochs.get(step)
                text = f"{label} at step {step}" + (f" (epoch {epoch:.2f})" if epoch is not None else "")
                text += f": {number(value)}"
                if smoothed is not values:
                    text += f", smoothed {number(smoothed[index])}"
                hover.append((ax, step, smoothed[index], text))
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    if log_y and values_seen and min(values_seen) > 0:  # a log axis cannot show zero or negative values
        ax.set_yscale("log")
    elif title == "learning rate":  # 5e-05 on the ticks, not an offset text over the title
        from matplotlib.ticker import FuncFormatter

        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.1e}"))
    if several or len(names) > 1 or title == "metrics":
        ax.legend(fontsize=8)
    return hover


def draw(runs: list[Run], smoothing: float = 0.0, log_y: bool = False, panel_size=(3.6, 2.8)):
    """The figure (None when nothing was logged) and its hover points."""
    chosen = panels(runs)
    if not chosen:
        return None, []
    # two panels a row: a notebook column shows them without shrinking the text
    columns = min(2, len(chosen))
    rows = -(-len(chosen) // columns)
    width, height = panel_size
    figure = new_figure(width * columns, height * rows, layout=None)  # redrawn often: fixed margins
    figure.subplots_adjust(left=0.24 / columns, right=0.97, bottom=0.17 / rows, top=1 - 0.1 / rows,
                           wspace=0.4, hspace=0.45)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[len(chosen):]:
        ax.remove()
    hover = []
    for ax, (title, names) in zip(axes, chosen):
        hover += _draw_panel(ax, title, names, runs, smoothing, log_y)
    return figure, hover


def _hover_targets(figure, hover: list) -> str:
    """Invisible circles over the points, each with a ``<title>`` (the browser's tooltip), in the
    SVG's coordinates: points (1/72 inch) from the top left, where matplotlib's are pixels at the
    figure's dpi from the bottom left. Computed after saving, when the axes limits are final."""
    scale = 72 / figure.dpi
    height = figure.bbox.height
    circles = []
    for ax, x, y, text in hover:
        px, py = ax.transData.transform((x, y))
        circles.append(f'<circle class="wb-point" cx="{px * scale:.2f}" cy="{(height - py) * scale:.2f}" r="4">'
                       f"<title>{escape(text)}</title></circle>")
    return f'<g class="wb-points">{"".join(circles)}</g>'


def curves_svg(runs: list[Run], title: str, smoothing: float = 0.0, log_y: bool = False, panel_size=(3.6, 2.8)) -> str:
    """The figure as themed inline SVG with hover values ("" when nothing was logged)."""
    with figure_theme():
        figure, hover = draw(runs, smoothing, log_y, panel_size)
        if figure is None:
            return ""
        svg = figure_svg(figure, title)
    return svg.replace("</svg>", _hover_targets(figure, hover) + "</svg>")


def curves_png(runs: list[Run], smoothing: float = 0.0, log_y: bool = False, panel_size=(3.6, 2.8)) -> bytes:
    """The same figure as PNG bytes in matplotlib's default (light) style, for files and reports."""
    figure, _ = draw(runs, smoothing, log_y, panel_size)
    return b"" if figure is None else figure_png(figure)
