// A few lines of DOM building shared by the panel and the renderers (no framework).

type Child = Node | string | null | undefined | false;

export function el(
  tag: string,
  attrs: { [key: string]: string | undefined } = {},
  children: Child[] = []
): HTMLElement {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined) {
      node.setAttribute(key, value);
    }
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(child);
    }
  }
  return node;
}

/** As Python's `f"{value:.3e}"` prints (`1.234e-05`); `-` for none; "NaN"/"Infinity" as given. */
export function fmt(value: number | string | null | undefined): string {
  if (value === null || value === undefined) {
    return '-';
  }
  if (typeof value === 'string') {
    return value;
  }
  if (!Number.isFinite(value)) {
    return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
  }
  const [mantissa, exponent] = value.toExponential(3).split('e');
  return `${mantissa}e${exponent[0]}${exponent.slice(1).padStart(2, '0')}`;
}
