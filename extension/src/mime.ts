// MIME renderers for workbench's rich outputs. Rank 40: below text/html's 50, or JupyterLab
// would pick the HTML fallback that the same bundles carry for nbconvert and GitHub.
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';

import { DIFF_MIME, DiffRenderer } from './diff';
import { TOKENS_MIME, TokensRenderer } from './tokens';

const RANK = 40;

const diffExtension: IRenderMime.IExtension = {
  id: '@workbench/jupyterlab:activation-diff',
  description: 'Activation diff: heatmap per layer, per-layer table, first divergence.',
  rendererFactory: { safe: true, mimeTypes: [DIFF_MIME], createRenderer: options => new DiffRenderer(options) },
  rank: RANK,
  dataType: 'json'
};

const tokensExtension: IRenderMime.IExtension = {
  id: '@workbench/jupyterlab:tokens',
  description: 'Tokens as coloured spans with their ids.',
  rendererFactory: { safe: true, mimeTypes: [TOKENS_MIME], createRenderer: options => new TokensRenderer(options) },
  rank: RANK,
  dataType: 'json'
};

const extensions: IRenderMime.IExtension[] = [diffExtension, tokensExtension];
export default extensions;
