// Renderer of application/vnd.workbench.activation-diff+json (workbench/porting/report.py):
// a heatmap strip of the error per layer, a per-layer table with the first divergence marked,
// and every tensor in a folded table below. Colours come with the data: each row's `colour` and
// the `colour_legend` follow workbench.porting.formatting.error_colour, the one rule that the static
// HTML and the ActivationDiff widget paint too; this renderer decides none of its own.
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { el, fmt } from './dom';

export const DIFF_MIME = 'application/vnd.workbench.activation-diff+json';

type Num = number | string | null; // non-finite numbers arrive as "NaN", "Infinity"

interface IDiffRow {
  index: number;
  reference: string;
  candidate: string;
  reference_shape: number[];
  candidate_shape: number[];
  status: string;
  max_abs_err: Num;
  max_rel_err: Num;
  cosine: Num;
  exceeds: boolean;
  tolerance_ratio?: Num; // max_abs_err / (atol + rtol * max|ref|): orders rows as their colours do
  colour?: string; // absent in version-1 data: the cell keeps the theme's background
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

// Same rule as report.layer_grid: "model.layers.3.mlp" belongs to layer "model.layers.3".
const NUMBERED = /^(.*?)\.(\d+)(?=$|[.[#<])(.*)$/;

function numeric(value: Num): number | null {
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

function shape(row: IDiffRow): string {
  const ref = row.reference_shape.join('×') || 'scalar';
  const cand = row.candidate_shape.join('×') || 'scalar';
  return ref === cand ? ref : `${ref} vs ${cand}`;
}

function header(data: IDiffData): HTMLElement {
  const first = data.first_divergence;
  const firstRow = first ? data.rows[first.index] : undefined;
  return el('div', { class: 'jp-WorkbenchDiff-header' }, [
    el('b', {}, [`${data.reference.type} (reference) vs ${data.candidate.type} (candidate)`]),
    ` · ${data.summary.rows} tensors aligned by ${data.align} · atol=${data.atol} rtol=${data.rtol}`,
    el('div', { class: first ? 'jp-WorkbenchDiff-verdict jp-mod-diverged' : 'jp-WorkbenchDiff-verdict' }, [
      first
        ? `First divergence: ${first.reference || '(model)'} (max abs err ${fmt(firstRow?.max_abs_err ?? null)}; ` +
          `${data.summary.exceeding} tensors exceed the tolerance)`
        : `No divergence (max abs err ${fmt(data.summary.max_abs_err)})`
    ])
  ]);
}

function strip(groups: IGroup[], legendItems: ILegendItem[], onPick: (group: IGroup) => void): HTMLElement {
  const cells = groups.map(group => {
    const classes = ['jp-WorkbenchDiff-cell'];
    if (group.exceeding) {
      classes.push('jp-mod-exceeds');
    }
    if (group.first) {
      classes.push('jp-mod-first');
    }
    const cell = el('div', {
      class: classes.join(' '),
      title: `${group.label}: max abs err ${fmt(group.maxErr)}${group.exceeding ? `, ${group.exceeding} over tolerance` : ''}`,
      style: paint(group.worst)
    });
    cell.addEventListener('click', () => onPick(group));
    return cell;
  });
  const legend = el('div', { class: 'jp-WorkbenchDiff-legend' }, [
    'max abs err per layer against atol + rtol·max|ref|:',
    ...legendItems.flatMap(item => [
      el('span', { class: 'jp-WorkbenchDiff-swatch', style: `background:${item.colour}` }),
      item.label
    ])
  ]);
  return el('div', {}, [el('div', { class: 'jp-WorkbenchDiff-strip' }, cells), legend]);
}

function layerTable(groups: IGroup[]): HTMLTableElement {
  const head = el('tr', {}, ['layer', 'tensors', 'over tol.', 'max abs err', 'worst tensor'].map(t => el('th', {}, [t])));
  const rows = groups.map(group => {
    const tr = el('tr', { class: group.first ? 'jp-WorkbenchDiff-first' : group.exceeding ? 'jp-mod-exceeds' : undefined }, [
      el('td', {}, [group.first ? '▶ ' : '', group.label]),
      el('td', {}, [String(group.rows.length)]),
      el('td', {}, [group.exceeding ? String(group.exceeding) : '']),
      el('td', { style: paint(group.worst) }, [fmt(group.maxErr)]),
      el('td', {}, [group.worst ? group.worst.reference || '(model)' : '-'])
    ]);
    tr.dataset.layer = group.label;
    return tr;
  });
  return el('table', { class: 'jp-WorkbenchDiff-table' }, [el('thead', {}, [head]), el('tbody', {}, rows)]) as HTMLTableElement;
}

function tensorTable(data: IDiffData): HTMLElement {
  const firstIndex = data.first_divergence?.index ?? null;
  const head = el('tr', {}, ['#', 'module', 'shape', 'max abs err', 'max rel err', 'cosine', 'status'].map(t => el('th', {}, [t])));
  const rows = data.rows.map(row =>
    el('tr', { class: row.index === firstIndex ? 'jp-WorkbenchDiff-first' : row.exceeds ? 'jp-mod-exceeds' : undefined }, [
      el('td', {}, [String(row.index)]),
      el('td', {}, [row.reference === row.candidate ? row.reference || '(model)' : `${row.reference} → ${row.candidate}`]),
      el('td', {}, [shape(row)]),
      el('td', { style: paint(row) }, [fmt(row.max_abs_err)]),
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
  const groups = groupRows(data.rows, data.first_divergence?.index ?? null);
  const table = layerTable(groups);
  const pick = (group: IGroup) => {
    table.querySelectorAll('tr.jp-mod-picked').forEach(tr => tr.classList.remove('jp-mod-picked'));
    const tr = [...table.querySelectorAll('tbody tr')].find(row => (row as HTMLElement).dataset.layer === group.label);
    tr?.classList.add('jp-mod-picked');
    tr?.scrollIntoView({ block: 'nearest' });
  };
  const unmatched: HTMLElement[] = [];
  for (const side of ['reference', 'candidate'] as const) {
    const paths = data.unmatched?.[side] ?? [];
    if (paths.length) {
      unmatched.push(el('div', { class: 'jp-WorkbenchDiff-unmatched' }, [`unmatched in ${side}: ${paths.join(', ')}`]));
    }
  }
  node.replaceChildren(
    header(data),
    strip(groups, data.colour_legend ?? [], pick),
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
