// Renderer of application/vnd.workbench.activation-diff+json (workbench/porting/report.py):
// the verdict (coverage, tolerance preset, first divergence), the legend, a heatmap of buttons per
// (module kind, layer) (hover: module, error, tolerance; click or Enter/Space: that module's tensors,
// stats and error per token position), the error per position at the first divergence and at the
// output, a per-layer table and every tensor in a folded table.
// Colours and words come with the data: each row's `colour` / `position_colours`, the
// `colour_legend` and the `verdict` are what workbench.porting decided (formatting.error_colour, the
// one rule the static HTML and the ActivationDiff widget paint too); this renderer decides none.
// Schema versions: 3 has everything above; 1 and 2 (no verdict, grid, tokens or positions) still
// render: a header built from the summary, one heatmap cell per tensor, no per-position view.
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { el, fmt } from './dom';

export const DIFF_MIME = 'application/vnd.workbench.activation-diff+json';

type Num = number | string | null; // non-finite numbers arrive as "NaN", "Infinity"

interface IStats {
  numel: number;
  mean: Num;
  std: Num;
  min: Num;
  max: Num;
  norm: Num;
  nan: number;
  inf: number;
}

interface IDiffRow {
  index: number;
  reference: string;
  candidate: string;
  reference_module?: string;
  reference_type?: string;
  reference_dtype?: string;
  candidate_dtype?: string;
  reference_shape: number[];
  candidate_shape: number[];
  status: string;
  max_abs_err: Num;
  max_rel_err: Num;
  cosine: Num;
  exceeds: boolean;
  reference_stats?: IStats;
  candidate_stats?: IStats;
  bound?: Num; // version 3: atol + rtol * max|ref|
  tolerance_ratio?: Num; // max_abs_err / bound: orders rows as their colours do
  colour?: string; // absent in version-1 data: the cell keeps the theme's background
  position_errors?: Num[][] | null; // version 3: [batch][position]
  position_colours?: string[][] | null;
}

interface ILegendItem {
  colour: string;
  label: string;
}

export interface IDiffData {
  schema: string;
  version: number;
  reference: { type: string };
  candidate: { type: string };
  align: string;
  atol: number;
  rtol: number;
  first_divergence: { index: number; reference: string; candidate: string } | null;
  summary: { rows: number; exceeding: number; max_abs_err: Num };
  rows: IDiffRow[];
  unmatched: { reference: string[]; candidate: string[] };
  colour_legend?: ILegendItem[];
  legend_caption?: string;
  verdict?: { kind: string; text: string }[];
  output_index?: number | null;
  token_ids?: number[][] | null;
  tokens?: string[][] | null;
  grid?: { labels: string[]; layers: number[]; cells: [number, number, number][]; others: number[] };
}

interface IGroup {
  label: string;
  rows: IDiffRow[];
  maxErr: number | null; // largest finite-or-infinite error, null if none comparable
  worst: IDiffRow | null; // the row furthest past its tolerance: the group shows its colour
  worstRatio: number;
  exceeding: number;
  first: boolean;
}

// Same rule as formatting.layer_grid: "model.layers.3.mlp" belongs to layer "model.layers.3".
const NUMBERED = /^(.*?)\.(\d+)(?=$|[.[#<])(.*)$/;

function numeric(value: Num | undefined): number | null {
  if (value === null || value === undefined) {
    return null;
  }
  if (typeof value === 'number') {
    return value;
  }
  if (value === 'Infinity' || value === 'NaN') {
    return Infinity; // a NaN error is as bad as it gets
  }
  return null;
}

/** Rows grouped by layer, in execution order of each group's first row. */
export function groupRows(rows: IDiffRow[], firstIndex: number | null): IGroup[] {
  const groups = new Map<string, IGroup>();
  for (const row of rows) {
    const match = NUMBERED.exec(row.reference);
    const label = match ? `${match[1]}.${match[2]}` : row.reference || '(model)';
    let group = groups.get(label);
    if (!group) {
      group = { label, rows: [], maxErr: null, worst: null, worstRatio: -1, exceeding: 0, first: false };
      groups.set(label, group);
    }
    group.rows.push(row);
    const err = numeric(row.max_abs_err);
    if (err !== null && (group.maxErr === null || err > group.maxErr)) {
      group.maxErr = err;
    }
    // version-1 data has no ratio: the largest error stands in; no error (shapes differ) is the worst
    const ratio = numeric(row.tolerance_ratio === undefined ? row.max_abs_err : row.tolerance_ratio) ?? Infinity;
    if (ratio > group.worstRatio) {
      group.worstRatio = ratio;
      group.worst = row;
    }
    group.exceeding += row.exceeds ? 1 : 0;
    group.first = group.first || row.index === firstIndex;
  }
  return [...groups.values()];
}

function paint(row: IDiffRow | null): string | undefined {
  return row?.colour ? `background:${row.colour}` : undefined;
}

function name(row: IDiffRow): string {
  const ref = row.reference || '(model)';
  return row.reference === row.candidate ? ref : `${ref} → ${row.candidate || '(model)'}`;
}

function shape(row: IDiffRow): string {
  const ref = row.reference_shape.join('×') || 'scalar';
  const cand = row.candidate_shape.join('×') || 'scalar';
  return ref === cand ? ref : `${ref} vs ${cand}`;
}

/** A cell's hover text and accessible name: module, error, tolerance, verdict. */
export function cellTitle(row: IDiffRow): string {
  const bound = row.bound === undefined ? '' : `, tolerance ${fmt(row.bound)}`;
  return `${name(row)}: max abs err ${fmt(row.max_abs_err)}${bound} (${row.exceeds ? 'exceeds' : 'within'})`;
}

function header(data: IDiffData): HTMLElement {
  const title = el('b', {}, [`${data.reference.type} (reference) vs ${data.candidate.type} (candidate)`]);
  if (data.verdict) {
    return el('div', { class: 'jp-WorkbenchDiff-header' }, [
      title,
      ...data.verdict.map(line =>
        el('div', { class: `jp-WorkbenchDiff-verdict jp-mod-${line.kind}`, role: line.kind === 'warning' ? 'alert' : undefined }, [
          line.kind === 'warning' ? '⚠ ' : '',
          line.text
        ])
      )
    ]);
  }
  const first = data.first_divergence; // versions 1 and 2
  const firstRow = first ? data.rows[first.index] : undefined;
  return el('div', { class: 'jp-WorkbenchDiff-header' }, [
    title,
    ` · ${data.summary.rows} tensors aligned by ${data.align} · atol=${data.atol} rtol=${data.rtol}`,
    el('div', { class: first ? 'jp-WorkbenchDiff-verdict jp-mod-diverged' : 'jp-WorkbenchDiff-verdict' }, [
      first
        ? `First divergence: ${first.reference || '(model)'} (max abs err ${fmt(firstRow?.max_abs_err ?? null)}; ` +
          `${data.summary.exceeding} tensors exceed the tolerance)`
        : `No divergence (max abs err ${fmt(data.summary.max_abs_err)})`
    ])
  ]);
}

function legend(data: IDiffData): HTMLElement {
  return el('div', { class: 'jp-WorkbenchDiff-legend' }, [
    ...(data.colour_legend ?? []).flatMap(item => [
      el('span', { class: 'jp-WorkbenchDiff-swatch', style: `background:${item.colour}` }),
      item.label
    ]),
    data.legend_caption ? el('div', {}, [data.legend_caption]) : null
  ]);
}

function cell(row: IDiffRow, firstIndex: number | null, onPick: (row: IDiffRow) => void): HTMLElement {
  const classes = ['jp-WorkbenchDiff-cell'];
  if (row.exceeds) {
    classes.push('jp-mod-exceeds');
  }
  if (row.index === firstIndex) {
    classes.push('jp-mod-first');
  }
  const title = cellTitle(row);
  // a <button>: focusable with Tab, Enter and Space click it
  const button = el('button', { class: classes.join(' '), title, 'aria-label': title, style: paint(row), type: 'button' });
  button.dataset.index = String(row.index);
  button.addEventListener('click', () => onPick(row));
  return button;
}

function heatmap(data: IDiffData, onPick: (row: IDiffRow) => void): HTMLElement {
  const firstIndex = data.first_divergence?.index ?? null;
  const grid = data.grid;
  if (!grid) {
    // versions 1 and 2: one cell per tensor, in order
    return el('div', { class: 'jp-WorkbenchDiff-others' }, data.rows.map(row => cell(row, firstIndex, onPick)));
  }
  const at = new Map<string, IDiffRow>();
  for (const [label, layer, index] of grid.cells) {
    at.set(`${label}/${layer}`, data.rows[index]);
  }
  const head = el('tr', {}, [el('th', { class: 'jp-WorkbenchDiff-kind' }, ['layer']), ...grid.layers.map(l => el('th', {}, [String(l)]))]);
  const body = grid.labels.map((label, i) =>
    el('tr', {}, [
      el('th', { class: 'jp-WorkbenchDiff-kind', scope: 'row' }, [label]),
      ...grid.layers.map((_, j) => {
        const row = at.get(`${i}/${j}`);
        return el('td', {}, [row ? cell(row, firstIndex, onPick) : null]);
      })
    ])
  );
  const others = grid.others.map(index =>
    el('span', { class: 'jp-WorkbenchDiff-other' }, [cell(data.rows[index], firstIndex, onPick), name(data.rows[index])])
  );
  return el('div', {}, [
    el('table', { class: 'jp-WorkbenchDiff-grid', 'aria-label': 'error per module and layer' }, [el('tbody', {}, [head, ...body])]),
    others.length ? el('div', { class: 'jp-WorkbenchDiff-muted' }, ['outside the layers:']) : null,
    el('div', { class: 'jp-WorkbenchDiff-others' }, others)
  ]);
}

/** A row's error per token position, over the tokens (or ids). */
function positions(data: IDiffData, row: IDiffRow | undefined, title: string): HTMLElement | null {
  const labels = data.tokens ?? data.token_ids?.map(seq => seq.map(String));
  if (!row || !row.position_errors || !labels) {
    return null;
  }
  const bound = numeric(row.bound ?? null) ?? Infinity;
  const sequences = row.position_errors.map((errors, b) => {
    const over = errors.map((e, p) => ((numeric(e) ?? Infinity) > bound ? p : -1)).filter(p => p >= 0);
    const chips = errors.map((error, p) => {
      const token = labels[b]?.[p] ?? String(p);
      const exceeds = (numeric(error) ?? Infinity) > bound;
      return el(
        'span',
        {
          class: exceeds ? 'jp-WorkbenchDiff-token jp-mod-exceeds' : 'jp-WorkbenchDiff-token',
          tabindex: '0',
          title: `position ${p} (${token}): max abs err ${fmt(error)}, tolerance ${fmt(row.bound ?? null)}`
        },
        [token, el('span', { class: 'jp-WorkbenchDiff-bar', style: `background:${row.position_colours?.[b]?.[p] ?? 'transparent'}` })]
      );
    });
    const where = over.length ? `positions over the tolerance: ${over.join(', ')}` : 'every position within';
    return el('div', {}, [
      el('div', { class: 'jp-WorkbenchDiff-muted' }, [`${row.position_errors!.length > 1 ? `sequence ${b}: ` : ''}${where}`]),
      el('div', { class: 'jp-WorkbenchDiff-tokens' }, chips)
    ]);
  });
  return el('div', { class: 'jp-WorkbenchDiff-positions' }, [el('b', {}, [title]), `: ${name(row)}`, ...sequences]);
}

function statsTable(row: IDiffRow): HTMLElement | null {
  if (!row.reference_stats || !row.candidate_stats) {
    return null;
  }
  const keys = ['mean', 'std', 'min', 'max', 'norm', 'nan', 'inf', 'numel'] as const;
  const line = (side: string, stats: IStats) =>
    el('tr', {}, [el('th', {}, [side]), ...keys.map(k => el('td', {}, [typeof stats[k] === 'number' && !['nan', 'inf', 'numel'].includes(k) ? fmt(stats[k]) : String(stats[k])]))]);
  return el('table', { class: 'jp-WorkbenchDiff-table' }, [
    el('thead', {}, [el('tr', {}, [el('th', {}, []), ...keys.map(k => el('th', {}, [k]))])]),
    el('tbody', {}, [line('reference', row.reference_stats), line('candidate', row.candidate_stats)])
  ]);
}

/** One module's drill-down: its tensors against the tolerance, both sides' stats, positions. */
function details(data: IDiffData, row: IDiffRow): HTMLElement {
  const module = row.reference_module ?? row.reference;
  const tensors = data.rows.filter(r => (r.reference_module ?? r.reference) === module);
  return el('div', { class: 'jp-WorkbenchDiff-details', 'aria-live': 'polite' }, [
    el('b', {}, [name(row)]),
    ` (${row.reference_type ?? ''}; dtype ${row.reference_dtype ?? '?'} / ${row.candidate_dtype ?? '?'})`,
    el('ul', {}, tensors.map(r => el('li', {}, [`${cellTitle(r)}; max rel err ${fmt(r.max_rel_err)}, cosine ${fmt(r.cosine)}, shape ${shape(r)}`]))),
    statsTable(row),
    positions(data, row, 'error per position')
  ]);
}

function layerTable(groups: IGroup[]): HTMLTableElement {
  const head = el('tr', {}, ['layer', 'tensors', 'over tol.', 'max abs err', 'worst tensor'].map(t => el('th', {}, [t])));
  const rows = groups.map(group => {
    const tr = el('tr', { class: group.first ? 'jp-WorkbenchDiff-first' : group.exceeding ? 'jp-mod-exceeds' : undefined }, [
      el('td', {}, [group.first ? '▶ ' : '', group.label]),
      el('td', {}, [String(group.rows.length)]),
      el('td', {}, [group.exceeding ? String(group.exceeding) : '']),
      el('td', { style: paint(group.worst) }, [el('span', { class: 'jp-WorkbenchDiff-num' }, [fmt(group.maxErr)])]),
      el('td', {}, [group.worst ? group.worst.reference || '(model)' : '-'])
    ]);
    tr.dataset.layer = group.label;
    return tr;
  });
  return el('table', { class: 'jp-WorkbenchDiff-table' }, [el('thead', {}, [head]), el('tbody', {}, rows)]) as HTMLTableElement;
}

function tensorTable(data: IDiffData): HTMLElement {
  const firstIndex = data.first_divergence?.index ?? null;
  const head = el('tr', {}, ['#', 'module', 'shape', 'max abs err', 'tolerance', 'max rel err', 'cosine', 'status'].map(t => el('th', {}, [t])));
  const rows = data.rows.map(row =>
    el('tr', { class: row.index === firstIndex ? 'jp-WorkbenchDiff-first' : row.exceeds ? 'jp-mod-exceeds' : undefined }, [
      el('td', {}, [String(row.index)]),
      el('td', {}, [name(row)]),
      el('td', {}, [shape(row)]),
      // the colour frames the number, which sits on the theme's background
      el('td', { style: paint(row) }, [el('span', { class: 'jp-WorkbenchDiff-num' }, [fmt(row.max_abs_err)])]),
      el('td', {}, [fmt(row.bound ?? null)]),
      el('td', {}, [fmt(row.max_rel_err)]),
      el('td', {}, [typeof row.cosine === 'number' ? row.cosine.toFixed(6) : fmt(row.cosine)]),
      el('td', {}, [row.status])
    ])
  );
  return el('details', { class: 'jp-WorkbenchDiff-tensors' }, [
    el('summary', {}, [`all ${data.rows.length} tensors`]),
    el('table', { class: 'jp-WorkbenchDiff-table' }, [el('thead', {}, [head]), el('tbody', {}, rows)])
  ]);
}

export function renderDiff(node: HTMLElement, data: IDiffData): void {
  const firstIndex = data.first_divergence?.index ?? null;
  const groups = groupRows(data.rows, firstIndex);
  const table = layerTable(groups);
  const drill = el('div', { class: 'jp-WorkbenchDiff-drill' });
  const pick = (row: IDiffRow) => {
    node.querySelectorAll('.jp-WorkbenchDiff-cell.jp-mod-picked').forEach(c => c.classList.remove('jp-mod-picked'));
    node.querySelectorAll(`.jp-WorkbenchDiff-cell[data-index="${row.index}"]`).forEach(c => c.classList.add('jp-mod-picked'));
    drill.replaceChildren(details(data, row));
    const match = NUMBERED.exec(row.reference);
    const label = match ? `${match[1]}.${match[2]}` : row.reference || '(model)';
    table.querySelectorAll('tr.jp-mod-picked').forEach(tr => tr.classList.remove('jp-mod-picked'));
    [...table.querySelectorAll('tbody tr')].find(tr => (tr as HTMLElement).dataset.layer === label)?.classList.add('jp-mod-picked');
  };
  const unmatched: HTMLElement[] = [];
  for (const side of ['reference', 'candidate'] as const) {
    const paths = data.unmatched?.[side] ?? [];
    if (paths.length) {
      unmatched.push(el('div', { class: 'jp-WorkbenchDiff-unmatched' }, [`unmatched in ${side}: ${paths.join(', ')}`]));
    }
  }
  const first = firstIndex === null ? undefined : data.rows[firstIndex];
  const output = data.output_index === null || data.output_index === undefined ? undefined : data.rows[data.output_index];
  node.replaceChildren(
    header(data),
    legend(data),
    heatmap(data, pick),
    drill,
    positions(data, first, 'error per position at the first divergence') ?? '',
    output && output !== first ? positions(data, output, 'error per position at the output') ?? '' : '',
    el('div', { class: 'jp-WorkbenchDiff-scroll' }, [table]),
    tensorTable(data),
    ...unmatched
  );
}

export class DiffRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(private options: IRenderMime.IRendererOptions) {
    super();
    this.addClass('jp-WorkbenchDiff');
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[this.options.mimeType] as unknown as IDiffData;
    try {
      renderDiff(this.node, data);
    } catch (error) {
      this.node.replaceChildren(el('pre', {}, [`Cannot show this activation diff: ${error}`]));
    }
    return Promise.resolve();
  }
}
