"""What the browser really painted, measured: the contrast of every piece of visible text against
its background (WCAG 2), and large bright areas in a dark theme ("white slabs").

:data:`CONTRAST_JS` runs in the page on one element (a view): for each element inside it that
shows text of its own (a non-blank text node, or the value of a text field, select or button), it
takes the text colour (``fill`` for SVG text; ``rgb()`` or ``color(srgb ...)``, what ``color-mix()``
computes to) and alpha-composites it, and the backgrounds of every
ancestor up to the page, honouring ``opacity``, into the colours a reader sees; then the contrast
ratio of their WCAG 2 relative luminances. Disabled controls are left out (WCAG exempts them), and
so is text that is not painted (no box, ``visibility: hidden``, zero opacity, a transparent colour:
an accessible name kept out of sight). A background image
on the way (a gradient, an icon) is not measured: the finding names it.

:func:`bright_blobs` reads a screenshot: the largest connected patch of bright 16x16 tiles.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

AA = 4.5  # WCAG 2 AA for body text; every text is held to it here, large text included

CONTRAST_JS = r"""
(root) => {
  const alpha = text => (text === undefined ? 1 : text.endsWith('%') ? parseFloat(text) / 100 : parseFloat(text));
  // rgb()/rgba(), and color(srgb r g b / a) with channels 0..1 (what color-mix() computes to)
  const parse = value => {
    const m = /rgba?\(([\d.]+)[ ,]+([\d.]+)[ ,]+([\d.]+)(?:[ ,/]+([\d.]+%?))?\)/.exec(value || '');
    if (m) return [+m[1], +m[2], +m[3], alpha(m[4])];
    const c = /color\(srgb ([\d.e-]+) ([\d.e-]+) ([\d.e-]+)(?: \/ ([\d.]+%?))?\)/.exec(value || '');
    return c ? [c[1] * 255, c[2] * 255, c[3] * 255, alpha(c[4])] : null;
  };
  // premultiplied "source over destination"
  const over = (top, bottom) => {
    const a = top[3] + bottom[3] * (1 - top[3]);
    return [0, 1, 2].map(i => top[i] * top[3] + bottom[i] * bottom[3] * (1 - top[3]))
      .map(c => (a > 0 ? c / a : 0)).concat([a]);
  };
  const fade = (colour, opacity) => [colour[0], colour[1], colour[2], colour[3] * opacity];
  const luminance = rgb => {
    const lin = rgb.slice(0, 3).map(c => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
  };
  const ratio = (a, b) => { const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const hex = c => '#' + c.slice(0, 3).map(v => Math.round(v).toString(16).padStart(2, '0')).join('');
  const describe = node => {
    const parts = [];
    for (let n = node; n && n !== root.parentElement && parts.length < 4; n = n.parentElement) {
      const cls = [...n.classList].filter(c => !c.startsWith('lm-') && !c.startsWith('p-')).slice(0, 2).join('.');
      parts.unshift(n.tagName.toLowerCase() + (cls ? '.' + cls : ''));
    }
    return parts.join(' > ');
  };
  // The colours a reader sees for the text of `node` and behind it, or a reason it is unknown.
  const painted = (node, text) => {
    const chain = [];
    for (let n = node; n; n = n.parentElement) chain.unshift(n);
    let unknown = null;
    // the pixel under the text: every ancestor's background, each subtree faded by its opacity
    let ground = [0, 0, 0, 0], ink = text;
    for (let i = chain.length - 1; i >= 0; i--) {
      const style = getComputedStyle(chain[i]);
      const bg = parse(style.backgroundColor) || [0, 0, 0, 0];
      if (style.backgroundImage !== 'none' && !unknown) unknown = `background image on ${describe(chain[i])}`;
      ground = over(ground, bg);
      ink = over(ink, bg);
      const opacity = parseFloat(style.opacity);
      ground = fade(ground, opacity);
      ink = fade(ink, opacity);
    }
    const canvas = [255, 255, 255, 1];
    return { ink: over(ink, canvas), ground: over(ground, canvas), unknown };
  };
  const visible = node => {
    const style = getComputedStyle(node);
    if (style.visibility !== 'visible' || parseFloat(style.opacity) === 0) return false;
    const box = node.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  };
  const disabled = node => !!node.closest(':disabled, [aria-disabled="true"]');
  const results = [];
  const fields = 'input:not([type=hidden]):not([type=checkbox]):not([type=radio]):not([type=range]):not([type=color]), textarea, select';
  for (const node of [root, ...root.querySelectorAll('*')]) {
    if (['SCRIPT', 'STYLE', 'TITLE', 'DESC', 'OPTION', 'DEFS'].includes(node.tagName.toUpperCase())) continue;
    const own = [...node.childNodes].filter(c => c.nodeType === 3).map(c => c.textContent).join('').trim();
    const text = own || (node.matches(fields) ? String(node.value || node.placeholder || '').trim() : '');
    if (!text || !visible(node) || disabled(node)) continue;
    const style = getComputedStyle(node);
    const svg = node instanceof SVGElement;
    const colour = parse(svg ? style.fill : style.color);
    if (!colour) { results.push({ where: describe(node), text: text.slice(0, 40), unknown: `text colour ${svg ? style.fill : style.color}` }); continue; }
    if (colour[3] === 0) continue;  // transparent text: not painted (an accessible name kept out of sight)
    const { ink, ground, unknown } = painted(node, colour);
    results.push({ where: describe(node), text: text.slice(0, 40), fg: hex(ink), bg: hex(ground),
                   ratio: Math.round(ratio(ink, ground) * 100) / 100, unknown });
  }
  return results;
}
"""


@dataclass
class Finding:
    view: str
    where: str
    text: str
    fg: str | None = None
    bg: str | None = None
    ratio: float | None = None
    unknown: str | None = None

    def __str__(self) -> str:
        if self.ratio is None:
            return f"{self.view}: {self.where} {self.text!r}: cannot measure ({self.unknown})"
        note = f" [{self.unknown}]" if self.unknown else ""
        return f"{self.view}: {self.where} {self.text!r}: {self.fg} on {self.bg} = {self.ratio}:1{note}"


def measure(element, view: str) -> list[Finding]:
    """Every text inside ``element`` (a playwright ElementHandle) with its measured contrast."""
    return [Finding(view=view, **row) for row in element.evaluate(CONTRAST_JS)]


def failures(findings: list[Finding], minimum: float = AA) -> list[Finding]:
    """The texts below ``minimum``, or whose colour cannot be read. A background image (an icon,
    a gradient) is named in the finding, not failed on its own: its pixels are not measured."""
    return [f for f in findings if f.ratio is None or f.ratio < minimum]


def report(findings: list[Finding], limit: int = 10) -> str:
    """Failures grouped by view, and within a view by place and colours: one line per kind of
    failure with how many texts share it and one of them."""
    groups: dict[str, dict[tuple, list[Finding]]] = {}
    for finding in findings:
        key = (finding.where, finding.fg, finding.bg, finding.ratio, finding.unknown)
        groups.setdefault(finding.view, {}).setdefault(key, []).append(finding)
    lines = []
    for view, kinds in groups.items():
        lines.append(f"-- {view}: {sum(map(len, kinds.values()))} texts")
        ordered = sorted(kinds.values(), key=lambda same: same[0].ratio or 0)
        for same in ordered[:limit]:
            lines.append(f"   {same[0]}" + (f"  (x{len(same)})" if len(same) > 1 else ""))
        if len(ordered) > limit:
            lines.append(f"   ... {len(ordered) - limit} more kinds")
    return "\n".join(lines)


def assert_readable(element, view: str, at_least: int = 1) -> list[Finding]:
    """Measure ``element`` and fail, with :func:`report`, on any text below AA, or when fewer than
    ``at_least`` texts were measured (a check of nothing proves nothing)."""
    findings = measure(element, view)
    assert len(findings) >= at_least, f"{view}: {len(findings)} texts measured, expected at least {at_least}"
    low = failures(findings)
    assert not low, f"{view}: {len(low)} of {len(findings)} texts below {AA}:1\n{report(low)}"
    return findings


def bright_blobs(png: bytes, tile: int = 16, level: int = 215) -> tuple[int, int]:
    """(width, height) in pixels of the bounding box of the largest 4-connected patch of tiles
    whose mean grey level is at least ``level`` (of 255): a white area painted in a dark page."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    columns, rows = image.width // tile, image.height // tile
    if not columns or not rows:
        return 0, 0
    means = image.crop((0, 0, columns * tile, rows * tile)).reduce(tile)  # one pixel per tile: its mean
    bright = {(x, y) for y in range(rows) for x in range(columns) if means.getpixel((x, y)) >= level}
    best = (0, 0, 0)  # tiles, width, height
    while bright:
        stack = [bright.pop()]
        patch = []
        while stack:
            x, y = stack.pop()
            patch.append((x, y))
            for step in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                if step in bright:
                    bright.remove(step)
                    stack.append(step)
        xs, ys = [p[0] for p in patch], [p[1] for p in patch]
        if len(patch) > best[0]:
            best = (len(patch), (max(xs) - min(xs) + 1) * tile, (max(ys) - min(ys) + 1) * tile)
    return best[1], best[2]
