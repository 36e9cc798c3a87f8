// Renderer of application/vnd.workbench.tokens+json (workbench/widgets/token_html.py draws the
// same view as HTML): tokens as chips with their ids, the byte pieces of one character under that
// character, whitespace no token covers marked between chips, up to three more tokenizers beside
// the first with where each splits differently, a chat's assistant tokens marked, and each token's
// log-probability as a colour. Colours come from style/tokens.css (theme variables only); chips
// are focusable and say their details (aria-label, and a line shown on focus).
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { el } from './dom';

export const TOKENS_MIME = 'application/vnd.workbench.tokens+json';
const CHIPS = 8; // --wb-tok-chip-0 .. 7 in tokens.css (theme.py's CHIPS_LIGHT / CHIPS_DARK)
const LOGPROB_FLOOR = 10; // nats: token_html.LOGPROB_FLOOR
const LOGPROB_MIX = 45; // percent: token_html.LOGPROB_MIX
const VISIBLE: { [char: string]: string } = { ' ': '·', '\n': '↵', '\t': '⇥', '\r': '␍', '\u00a0': '⍽' };

interface IToken {
  index: number;
  id: number;
  token: string;
  text: string;
  start: number;
  end: number;
  special: boolean;
  assistant: boolean;
  source?: string;
  hex?: string;
  group?: number | null;
  logprob?: number | null;
}

interface IGroup {
  first: number;
  last: number;
  text: string;
  hex: string;
}

interface IDifference {
  start: number;
  end: number;
  text: string;
  tokens: string[];
  other_tokens: string[];
}

interface ITokenization {
  name: string;
  tokens: IToken[];
  groups?: IGroup[];
  differences?: IDifference[];
}

export interface ITokensData extends ITokenization {
  schema: string;
  version: number;
  text: string;
  show_ids?: boolean;
  other: ITokenization | null;
  differences: IDifference[];
  chat: { method: string; text?: string; tokens: IToken[]; groups?: IGroup[] } | null;
  others?: ITokenization[];
  model?: string | null;
  view?: string;
}

interface IChipOptions {
  showIds: boolean;
  flagged: Set<number>;
  chat: boolean;
  logprobs: boolean;
}

function visible(text: string): string {
  return Array.from(text, char => VISIBLE[char] ?? char).join('');
}

export function logprobColour(logprob: number | null | undefined): string | null {
  if (logprob === null || logprob === undefined || Number.isNaN(logprob)) {
    return null;
  }
  const share = Math.min(Math.max(-logprob, 0) / LOGPROB_FLOOR, 1);
  return `color-mix(in srgb, var(--wb-tok-error) ${Math.round(share * LOGPROB_MIX)}%, var(--wb-tok-bg))`;
}

function details(token: IToken): string {
  const parts = [
    `token ${token.index}: id ${token.id}`,
    `piece ${JSON.stringify(token.token)}`,
    `source ${JSON.stringify(token.source ?? '')}`,
    `chars ${token.start}-${token.end}`
  ];
  if (token.hex) {
    parts.push(`bytes ${token.hex}`);
  }
  if (token.logprob !== null && token.logprob !== undefined) {
    parts.push(`log-prob ${token.logprob.toFixed(2)} nats`);
  }
  if (token.special) {
    parts.push('special');
  }
  if (token.assistant) {
    parts.push('assistant');
  }
  return parts.join(', ');
}

function chip(token: IToken, options: IChipOptions): HTMLElement {
  const classes = ['jp-WorkbenchTokens-token'];
  let background: string | null = `var(--wb-tok-chip-${token.index % CHIPS})`;
  if (token.special) {
    classes.push('jp-mod-special');
  }
  if (options.flagged.has(token.index)) {
    classes.push('jp-mod-diff');
  }
  if (options.chat && !options.logprobs) {
    classes.push(token.assistant ? 'jp-mod-assistant' : 'jp-mod-other');
  }
  if (options.logprobs) {
    background = token.assistant || !options.chat ? logprobColour(token.logprob) : null;
    classes.push(background ? 'jp-mod-scored' : options.chat && !token.assistant ? 'jp-mod-other' : 'jp-mod-unscored');
  }
  const label = details(token);
  const node = el(
    'span',
    {
      class: classes.join(' '),
      tabindex: '0',
      role: 'listitem',
      'aria-label': label,
      'data-details': label,
      title: label,
      style: background ? `background:${background}` : undefined
    },
    [token.text || '\u200b', options.showIds ? el('sub', {}, [String(token.id)]) : null]
  );
  node.dataset.id = String(token.id);
  return node;
}

function gap(text: string): Node[] {
  const marker = el('span', { class: 'jp-WorkbenchTokens-gap', title: `not in any token: ${JSON.stringify(text)}`, 'aria-hidden': 'true' }, [
    visible(text)
  ]);
  return text.includes('\n') ? [marker, el('br')] : [marker];
}

function group(info: IGroup, members: IToken[], options: IChipOptions): HTMLElement {
  const label = `${JSON.stringify(info.text)} spelled by tokens ${info.first}-${info.last} (${members
    .map(m => m.token)
    .join(', ')}; bytes ${info.hex})`;
  return el('span', { class: 'jp-WorkbenchTokens-group', role: 'listitem' }, [
    el('span', { class: 'jp-WorkbenchTokens-char', tabindex: '0', 'aria-label': label, 'data-details': label, title: label }, [
      info.text
    ]),
    el('span', { role: 'list' }, members.map(m => chip(m, options)))
  ]);
}

function tokenChips(tokens: IToken[], groups: IGroup[], source: string | undefined, options: IChipOptions, label: string): HTMLElement {
  // offsets count code points (Python's str), not UTF-16 units: an emoji is one character here
  const text = source === undefined ? undefined : Array.from(source);
  const out: Node[] = [];
  let covered = 0;
  let index = 0;
  while (index < tokens.length) {
    const token = tokens[index];
    if (text !== undefined && token.end > token.start) {
      if (token.start > covered) {
        out.push(...gap(text.slice(covered, token.start).join('')));
      }
      covered = Math.max(covered, token.end);
    }
    let shown: string;
    const info = token.group !== null && token.group !== undefined ? groups[token.group] : undefined;
    if (info) {
      const members = tokens.slice(info.first, info.last + 1);
      out.push(group(info, members, options));
      covered = Math.max(covered, ...members.map(m => m.end));
      shown = info.text;
      index = info.last + 1;
    } else {
      out.push(chip(token, options));
      shown = token.text;
      index += 1;
    }
    if (shown.endsWith('↵') && !token.special) {
      out.push(el('br'));
    }
  }
  if (text !== undefined && tokens.length && covered < text.length) {
    out.push(...gap(text.slice(covered).join('')));
  }
  return el('div', { class: 'jp-WorkbenchTokens-tokens', role: 'list', 'aria-label': label }, out);
}

function flaggedIndices(tokens: IToken[], differences: IDifference[]): Set<number> {
  return new Set(
    tokens.filter(t => t.end > t.start && differences.some(d => t.start < d.end && t.end > d.start)).map(t => t.index)
  );
}

function table(tokens: IToken[], groups: IGroup[], chat: boolean, logprobs: boolean): HTMLElement {
  const head = ['#', 'piece', 'source text', 'shown', 'id', 'start', 'end', ...(logprobs ? ['log-prob'] : []), 'special',
    ...(chat ? ['assistant'] : [])];
  const rows = tokens.map(t => {
    const info = t.group !== null && t.group !== undefined ? groups[t.group] : undefined;
    const cells = [String(t.index), t.token, t.source ?? '', info ? `${t.text} (part of ${info.text})` : t.text, String(t.id),
      String(t.start), String(t.end)];
    if (logprobs) {
      cells.push(t.logprob === null || t.logprob === undefined ? '-' : t.logprob.toFixed(3));
    }
    cells.push(t.special ? 'yes' : '');
    if (chat) {
      cells.push(t.assistant ? 'yes' : '');
    }
    return el('tr', {}, cells.map(c => el('td', {}, [c])));
  });
  return el('details', {}, [
    el('summary', {}, [`table of ${tokens.length} tokens`]),
    el('table', { class: 'jp-WorkbenchTokens-table' }, [el('tr', {}, head.map(h => el('th', {}, [h]))), ...rows])
  ]);
}

function legend(model: string, tokens: IToken[], chat: boolean): HTMLElement[] {
  const steps = [0, -2.5, -5, -7.5, -LOGPROB_FLOOR];
  const swatches = steps.map(v =>
    el('span', { class: 'jp-WorkbenchTokens-swatch', style: `background:${logprobColour(v)}` }, [
      `${v === -LOGPROB_FLOOR ? '≤ ' : ''}${v}`
    ])
  );
  const scored = tokens.filter(t => t.logprob !== null && t.logprob !== undefined && (t.assistant || !chat)).map(t => t.logprob as number);
  const mean = scored.length ? scored.reduce((a, b) => a + b, 0) / scored.length : null;
  const summary = mean === null
    ? 'no token has a log-probability (a text of one token has nothing to predict it from)'
    : `mean log-prob ${mean.toFixed(3)} nats over ${scored.length} ${chat ? 'assistant tokens' : 'tokens'} (perplexity ${Math.exp(-mean).toFixed(2)})`;
  const first = 'the first token has no log-prob: nothing comes before it' + (chat ? "; only the assistant's tokens are coloured" : '');
  return [
    el('div', { class: 'jp-WorkbenchTokens-legend', role: 'note' }, [
      'log-prob under ', el('b', {}, [model]), ' (nats): ', ...swatches,
      el('span', { class: 'jp-WorkbenchTokens-token jp-mod-unscored' }, ['no value']),
      el('span', { class: 'jp-WorkbenchTokens-note' }, [first])
    ]),
    el('div', { class: 'jp-WorkbenchTokens-note' }, [summary])
  ];
}

function differencesView(first: string, other: string, differences: IDifference[]): Node[] {
  if (!differences.length) {
    return [el('div', {}, [`${first} and ${other} cut this text at the same places (whitespace aside).`])];
  }
  const head = el('tr', {}, [el('th', {}, ['text']), el('th', {}, [first]), el('th', {}, [other])]);
  const rows = differences.map(d =>
    el('tr', {}, [el('td', {}, [visible(d.text)]), el('td', {}, [d.tokens.join(' | ')]), el('td', {}, [d.other_tokens.join(' | ')])])
  );
  return [el('div', {}, [`${first} vs ${other}: ${differences.length} places split differently:`]),
    el('table', { class: 'jp-WorkbenchTokens-table' }, [head, ...rows])];
}

function panel(part: ITokenization, data: ITokensData, differences: IDifference[], scored: boolean): HTMLElement {
  const options = { showIds: data.show_ids ?? true, flagged: flaggedIndices(part.tokens, differences), chat: false, logprobs: scored };
  const groups = part.groups ?? [];
  return el('div', { class: 'jp-WorkbenchTokens-panel' }, [
    el('div', {}, [el('b', {}, [part.name]), `: ${part.tokens.length} tokens`]),
    ...(scored && data.model ? legend(data.model, part.tokens, false) : []),
    tokenChips(part.tokens, groups, data.text, options, `${part.tokens.length} tokens of ${part.name}`),
    table(part.tokens, groups, false, scored)
  ]);
}

function others(data: ITokensData): ITokenization[] {
  if (data.others) {
    return data.others;
  }
  return data.other ? [{ ...data.other, differences: data.differences ?? [] }] : []; // older payloads
}

function chatView(data: ITokensData): HTMLElement | null {
  const chat = data.chat;
  if (!chat) {
    return null;
  }
  const scored = Boolean(data.model);
  const mine = chat.tokens.filter(t => t.assistant).length;
  const options = { showIds: data.show_ids ?? true, flagged: new Set<number>(), chat: true, logprobs: scored };
  return el('div', { class: 'jp-WorkbenchTokens-chat' }, [
    el('div', {}, [el('b', {}, [data.name]), ` chat template: ${chat.tokens.length} tokens, ${mine} of them the assistant's (found by ${chat.method})`]),
    ...(scored && data.model ? legend(data.model, chat.tokens, true) : []),
    tokenChips(chat.tokens, chat.groups ?? [], chat.text, options, `${chat.tokens.length} chat tokens of ${data.name}`),
    table(chat.tokens, chat.groups ?? [], true, scored)
  ]);
}

export function renderTokens(node: HTMLElement, data: ITokensData): void {
  const rest = others(data);
  const children: Node[] = [];
  const chat = chatView(data);
  if (chat && data.view === 'chat') {
    node.replaceChildren(chat);
    return;
  }
  const scored = Boolean(data.model);
  if (rest.length) {
    const everyDifference = rest.flatMap(o => o.differences ?? []);
    children.push(
      el('div', { class: 'jp-WorkbenchTokens-columns' }, [
        panel(data, data, everyDifference, scored),
        ...rest.map(o => panel(o, data, o.differences ?? [], false))
      ])
    );
    for (const other of rest) {
      children.push(...differencesView(data.name, other.name, other.differences ?? []));
    }
  } else {
    children.push(panel(data, data, [], scored));
  }
  if (chat) {
    children.push(chat);
  }
  node.replaceChildren(...children);
}

export class TokensRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(private options: IRenderMime.IRendererOptions) {
    super();
    this.addClass('jp-WorkbenchTokens');
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[this.options.mimeType] as unknown as ITokensData;
    try {
      renderTokens(this.node, data);
    } catch (error) {
      this.node.replaceChildren(el('pre', {}, [`Cannot show these tokens: ${error}`]));
    }
    return Promise.resolve();
  }
}
