// Renderer of application/vnd.workbench.tokens+json (workbench/widgets/token_view.py): tokens as
// coloured spans with their ids, a second tokenizer beside the first, the places they split
// differently, and a chat's assistant tokens marked.
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { el } from './dom';

export const TOKENS_MIME = 'application/vnd.workbench.tokens+json';
// the palette of token_view.PALETTE, so the static HTML and this view look alike
const PALETTE = ['#fde2e4', '#dfe7fd', '#e2ece9', '#fff1c1', '#e8dff5', '#d7f9f1', '#fce1c8', '#e0f0ff'];

interface IToken {
  index: number;
  id: number;
  token: string;
  text: string;
  start: number;
  end: number;
  special: boolean;
  assistant: boolean;
}

interface ITokenization {
  name: string;
  tokens: IToken[];
}

interface IDifference {
  start: number;
  end: number;
  text: string;
  tokens: string[];
  other_tokens: string[];
}

export interface ITokensData extends ITokenization {
  schema: string;
  version: number;
  text: string;
  show_ids?: boolean;
  other: ITokenization | null;
  differences: IDifference[];
  chat: { method: string; tokens: IToken[] } | null;
}

function tokenSpans(tokens: IToken[], showIds: boolean, flagged: Set<number>, chat: boolean): HTMLElement {
  const spans: Node[] = [];
  for (const token of tokens) {
    const classes = ['jp-WorkbenchTokens-token'];
    if (token.special) {
      classes.push('jp-mod-special');
    }
    if (flagged.has(token.index)) {
      classes.push('jp-mod-diff');
    }
    if (chat) {
      classes.push(token.assistant ? 'jp-mod-assistant' : 'jp-mod-other');
    }
    const tip = `#${token.index}  id ${token.id}  ${JSON.stringify(token.token)}  chars ${token.start}-${token.end}` +
      (token.special ? '  (special)' : '');
    const span = el('span', {
      class: classes.join(' '),
      title: tip,
      style: `background:${PALETTE[token.index % PALETTE.length]}`
    }, [token.text || '\u200b', showIds ? el('sub', {}, [String(token.id)]) : null]);
    span.dataset.id = String(token.id);
    spans.push(span);
    if (token.text.endsWith('↵') && !token.special) {
      spans.push(el('br'));
    }
  }
  return el('div', { class: 'jp-WorkbenchTokens-tokens' }, spans);
}

function flaggedIndices(tokens: IToken[], differences: IDifference[]): Set<number> {
  return new Set(
    tokens
      .filter(t => t.end > t.start && differences.some(d => t.start < d.end && t.end > d.start))
      .map(t => t.index)
  );
}

function panel(part: ITokenization, showIds: boolean, differences: IDifference[]): HTMLElement {
  return el('div', { class: 'jp-WorkbenchTokens-panel' }, [
    el('div', {}, [el('b', {}, [part.name]), `: ${part.tokens.length} tokens`]),
    tokenSpans(part.tokens, showIds, flaggedIndices(part.tokens, differences), false)
  ]);
}

export function renderTokens(node: HTMLElement, data: ITokensData): void {
  const showIds = data.show_ids ?? true;
  const differences = data.differences ?? [];
  const children: Node[] = [];
  if (data.other) {
    children.push(
      el('div', { class: 'jp-WorkbenchTokens-columns' }, [
        panel(data, showIds, differences),
        panel(data.other, showIds, differences)
      ])
    );
    if (differences.length) {
      const head = el('tr', {}, [el('th', {}, ['text']), el('th', {}, [data.name]), el('th', {}, [data.other.name])]);
      const rows = differences.map(d =>
        el('tr', {}, [el('td', {}, [d.text]), el('td', {}, [d.tokens.join(' | ')]), el('td', {}, [d.other_tokens.join(' | ')])])
      );
      children.push(el('div', {}, [`${differences.length} places split differently:`]),
        el('table', { class: 'jp-WorkbenchTokens-table' }, [head, ...rows]));
    } else {
      children.push(el('div', {}, ['Both tokenizers cut this text at the same places (whitespace aside).']));
    }
  } else {
    children.push(panel(data, showIds, []));
  }
  if (data.chat) {
    const mine = data.chat.tokens.filter(t => t.assistant).length;
    children.push(
      el('div', { class: 'jp-WorkbenchTokens-chat' }, [
        el('div', {}, [el('b', {}, [data.name]), ` chat template: ${data.chat.tokens.length} tokens, ${mine} of them the assistant's (found by ${data.chat.method})`]),
        tokenSpans(data.chat.tokens, showIds, new Set(), true)
      ])
    );
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
