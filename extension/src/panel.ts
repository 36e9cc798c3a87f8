// The Workbench side panel: models in the Hugging Face cache (with delete), the zoo, tutorials.
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ICachedModel, IModelsReply, ITutorial, ITutorialsReply, humanBytes, requestAPI } from './api';
import { el } from './dom';

export interface IPanelOptions {
  /** Open a notebook, by its path relative to the server root. */
  openPath: (path: string) => Promise<unknown>;
}

/** Opens a tutorial, first copying a shipped one into the server root when it is not there. */
export async function openTutorial(tutorial: ITutorial, openPath: (path: string) => Promise<unknown>) {
  let path = tutorial.path;
  if (!path) {
    const copied = await requestAPI<ITutorial>(`tutorials?name=${encodeURIComponent(tutorial.name)}`, {
      method: 'POST'
    });
    path = copied.path as string;
  }
  return openPath(path);
}

export class WorkbenchPanel extends Widget {
  constructor(private options: IPanelOptions) {
    super();
    this.id = 'workbench-panel';
    this.addClass('jp-WorkbenchPanel');
    this.title.caption = 'Workbench: cached models and tutorials';
    const refresh = el('button', { class: 'jp-WorkbenchPanel-refresh jp-mod-styled', title: 'Scan again' }, [
      'Refresh'
    ]);
    refresh.addEventListener('click', () => void this.refresh());
    this.node.append(
      el('div', { class: 'jp-WorkbenchPanel-header' }, [el('h2', {}, ['Workbench']), refresh]),
      el('h3', {}, ['Cached models']),
      this.modelsNode,
      el('h3', {}, ['Tutorials']),
      this.tutorialsNode
    );
  }

  // scanned each time the panel opens, not at page load: a large cache takes a while to scan
  protected onAfterShow(): void {
    void this.refresh();
  }

  async refresh(): Promise<void> {
    await Promise.all([this.refreshModels(), this.refreshTutorials()]);
  }

  async refreshModels(): Promise<void> {
    this.modelsNode.replaceChildren(el('div', { class: 'jp-WorkbenchPanel-note' }, ['Scanning the cache...']));
    try {
      const reply = await requestAPI<IModelsReply>('models');
      this.modelsNode.replaceChildren(...this.modelNodes(reply));
    } catch (error) {
      this.modelsNode.replaceChildren(this.errorNode(error));
    }
  }

  async refreshTutorials(): Promise<void> {
    try {
      const reply = await requestAPI<ITutorialsReply>('tutorials');
      const items = reply.tutorials.map(tutorial => {
        const link = el('a', { class: 'jp-WorkbenchPanel-tutorial', href: '#', title: tutorial.path ?? tutorial.name }, [
          tutorial.title
        ]);
        link.dataset.name = tutorial.name;
        link.addEventListener('click', event => {
          event.preventDefault();
          openTutorial(tutorial, this.options.openPath).catch(error => this.showError('Cannot open', error));
        });
        return el('li', {}, [link]);
      });
      this.tutorialsNode.replaceChildren(
        items.length
          ? el('ul', {}, items)
          : el('div', { class: 'jp-WorkbenchPanel-note' }, ['No notebooks in notebooks/ nor shipped with workbench.'])
      );
    } catch (error) {
      this.tutorialsNode.replaceChildren(this.errorNode(error));
    }
  }

  private modelNodes(reply: IModelsReply): Node[] {
    const nodes: Node[] = [el('div', { class: 'jp-WorkbenchPanel-note', title: reply.cache_dir }, [reply.cache_dir])];
    if (!reply.models.length) {
      nodes.push(el('div', { class: 'jp-WorkbenchPanel-note' }, ['No models cached.']));
    }
    nodes.push(...reply.models.map(model => this.modelNode(model)));
    if (reply.zoo.length) {
      nodes.push(el('h4', {}, ['Zoo']));
      for (const entry of reply.zoo) {
        nodes.push(
          el('div', { class: 'jp-WorkbenchPanel-model jp-WorkbenchPanel-zoo', title: entry.path }, [
            el('div', { class: 'jp-WorkbenchPanel-name' }, [entry.name]),
            el('div', { class: 'jp-WorkbenchPanel-meta' }, [
              `${entry.architecture ?? entry.model_type ?? '?'} · ${humanBytes(entry.size_on_disk)}`
            ])
          ])
        );
      }
    }
    return nodes;
  }

  private modelNode(model: ICachedModel): HTMLElement {
    const remove = el('button', { class: 'jp-WorkbenchPanel-delete jp-mod-styled', title: `Delete ${model.repo_id}` }, [
      'Delete'
    ]);
    remove.addEventListener('click', () => void this.confirmDelete(model));
    const revisions = model.revisions.map(revision => {
      const refs = revision.refs.length ? ` (${revision.refs.join(', ')})` : '';
      const row = el('li', { class: 'jp-WorkbenchPanel-revision', title: revision.commit_hash }, [
        `${revision.commit_hash.slice(0, 10)}${refs} · ${humanBytes(revision.size_on_disk)}`
      ]);
      if (model.revisions.length > 1) {
        const drop = el('button', { class: 'jp-WorkbenchPanel-delete-revision jp-mod-styled', title: 'Delete this revision' }, [
          '×'
        ]);
        drop.addEventListener('click', () => void this.confirmDelete(model, revision.commit_hash));
        row.append(drop);
      }
      return row;
    });
    const node = el('div', { class: 'jp-WorkbenchPanel-model' }, [
      el('div', { class: 'jp-WorkbenchPanel-row' }, [el('div', { class: 'jp-WorkbenchPanel-name' }, [model.repo_id]), remove]),
      el('div', { class: 'jp-WorkbenchPanel-meta' }, [
        `${model.architecture ?? model.model_type ?? 'no config.json'} · ${humanBytes(model.size_on_disk)}`
      ]),
      el('ul', { class: 'jp-WorkbenchPanel-revisions' }, revisions)
    ]);
    node.dataset.repoId = model.repo_id;
    return node;
  }

  private async confirmDelete(model: ICachedModel, revision?: string): Promise<void> {
    const what = revision ? `revision ${revision.slice(0, 10)} of ${model.repo_id}` : `${model.repo_id}`;
    const size = revision
      ? model.revisions.find(r => r.commit_hash === revision)?.size_on_disk
      : model.size_on_disk;
    const result = await showDialog({
      title: 'Delete cached model',
      body: `Delete ${what} (${humanBytes(size)}) from the Hugging Face cache? It will be downloaded again when next used.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!result.button.accept) {
      return;
    }
    const query = `repo=${encodeURIComponent(model.repo_id)}` + (revision ? `&revision=${encodeURIComponent(revision)}` : '');
    try {
      await requestAPI(`models?${query}`, { method: 'DELETE' });
    } catch (error) {
      await this.showError(`Cannot delete ${what}`, error);
    }
    await this.refreshModels();
  }

  private errorNode(error: unknown): HTMLElement {
    return el('div', { class: 'jp-WorkbenchPanel-error' }, [String((error as Error)?.message ?? error)]);
  }

  private async showError(title: string, error: unknown): Promise<void> {
    await showDialog({ title, body: String((error as Error)?.message ?? error), buttons: [Dialog.okButton()] });
  }

  private modelsNode = el('div', { class: 'jp-WorkbenchPanel-models' });
  private tutorialsNode = el('div', { class: 'jp-WorkbenchPanel-tutorials' });
}
