// The Workbench side panel: models in the Hugging Face cache (GGUF headers read, delete, open in a
// ModelPicker), the zoo, and the tutorials as numbered tiles.
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Clipboard, Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ICachedModel, IGGUFFile, IModelsReply, ITutorial, ITutorialsReply, humanBytes, humanCount, requestAPI } from './api';
import { el } from './dom';

export interface IPanelOptions {
  /** Open a notebook, by its path relative to the server root; resolves to the document widget. */
  openPath: (path: string) => Promise<unknown>;
  /** The application: "open in picker" inserts a cell into its current notebook. */
  app: JupyterFrontEnd;
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
  const widget = await openPath(path);
  keepCleanWhileTheKernelStarts(widget);
  return widget;
}

/**
 * On kernel start JupyterLab writes the kernel's `kernelspec` and `language_info` (with the Python
 * version of this machine) into the notebook's metadata, which marks a just-opened notebook as
 * modified unless the file held exactly those values: no shipped notebook can, as they differ per
 * machine. Whenever the notebook turns modified while it still equals what was loaded except for
 * those two keys, it is marked unmodified again; any other change (a cell edited, run, added)
 * leaves it modified as usual. Watches the first minute, while the kernel starts.
 */
export function keepCleanWhileTheKernelStarts(widget: any): void {
  const context = widget?.context;
  if (!context?.model?.stateChanged) {
    return;
  }
  const withoutKernel = (model: any): string => {
    const { metadata, ...rest } = model.toJSON();
    const { kernelspec, language_info, ...other } = metadata ?? {};
    return JSON.stringify({ ...rest, metadata: other });
  };
  void context.ready.then(() => {
    const model = context.model;
    const loaded = withoutKernel(model);
    const onState = (_: unknown, change: { name: string; newValue: unknown }) => {
      if (change.name !== 'dirty' || change.newValue !== true) {
        return;
      }
      // after the change that set it has finished: the flag is written after the signal
      void Promise.resolve().then(() => {
        if (model.dirty && withoutKernel(model) === loaded) {
          model.dirty = false;
        }
      });
    };
    model.stateChanged.connect(onState);
    window.setTimeout(() => model.stateChanged.disconnect(onState), 60_000);
  });
}

/** The cell that opens a ModelPicker on `name` (a repo id or a zoo entry's name). */
export function pickerCode(name: string): string {
  return `from workbench.widgets import ModelPicker\n\nModelPicker(selected=${JSON.stringify(name)})`;
}

/**
 * Inserts `code` as a code cell below the active cell of the current notebook and selects it (to
 * run with Shift+Enter): nothing is run for the user. With no notebook in front, copies it.
 */
export async function insertOrCopy(app: JupyterFrontEnd, code: string): Promise<'inserted' | 'copied'> {
  const current: any = app.shell.currentWidget;
  const notebook = current?.content;
  if (current?.context && notebook?.model?.sharedModel && typeof notebook.activeCellIndex === 'number') {
    const index = Math.min(notebook.activeCellIndex + 1, notebook.model.sharedModel.cells.length);
    notebook.model.sharedModel.insertCell(index, { cell_type: 'code', source: code });
    notebook.activeCellIndex = index;
    app.shell.activateById(current.id);
    return 'inserted';
  }
  Clipboard.copyToSystem(code);
  return 'copied';
}

function ggufLine(gguf: IGGUFFile): string {
  if (gguf.error) {
    return `${gguf.file}: unreadable GGUF header (${gguf.error})`;
  }
  const facts = [gguf.architecture, gguf.quantization, gguf.parameters ? `${humanCount(gguf.parameters)} params` : null];
  return `${gguf.file} · ${facts.filter(Boolean).join(' · ')} · ${humanBytes(gguf.size_on_disk)}`;
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
      const items = reply.tutorials.map(tutorial => el('li', {}, [this.tutorialTile(tutorial)]));
      this.tutorialsNode.replaceChildren(
        items.length
          ? el('ul', { class: 'jp-WorkbenchPanel-tiles' }, items)
          : el('div', { class: 'jp-WorkbenchPanel-note' }, ['No notebooks in notebooks/ nor shipped with workbench.'])
      );
    } catch (error) {
      this.tutorialsNode.replaceChildren(this.errorNode(error));
    }
  }

  private tutorialTile(tutorial: ITutorial): HTMLElement {
    const minutes = tutorial.minutes ? `about ${tutorial.minutes} min` : null;
    const label = [tutorial.number !== null ? `Tutorial ${tutorial.number}` : null, tutorial.title, minutes];
    const link = el('a', { class: 'jp-WorkbenchPanel-tutorial', href: '#', title: tutorial.path ?? tutorial.name,
                           'aria-label': label.filter(Boolean).join(', ') }, [
      el('span', { class: 'jp-WorkbenchPanel-number', 'aria-hidden': 'true' }, [
        tutorial.number !== null ? String(tutorial.number) : '·'
      ]),
      el('span', { class: 'jp-WorkbenchPanel-tile' }, [
        el('span', { class: 'jp-WorkbenchPanel-tileTitle' }, [tutorial.title]),
        tutorial.description && el('span', { class: 'jp-WorkbenchPanel-description' }, [tutorial.description]),
        minutes && el('span', { class: 'jp-WorkbenchPanel-minutes' }, [minutes])
      ])
    ]);
    link.dataset.name = tutorial.name;
    link.addEventListener('click', event => {
      event.preventDefault();
      openTutorial(tutorial, this.options.openPath).catch(error => this.showError('Cannot open', error));
    });
    return link;
  }

  private modelNodes(reply: IModelsReply): Node[] {
    const nodes: Node[] = [el('div', { class: 'jp-WorkbenchPanel-note', title: reply.cache_dir }, [reply.cache_dir])];
    if (!reply.models.length) {
      nodes.push(this.emptyHint());
    }
    nodes.push(...reply.models.map(model => this.modelNode(model)));
    if (reply.zoo.length) {
      nodes.push(el('h4', {}, ['Zoo']));
      for (const entry of reply.zoo) {
        const node = el('div', { class: 'jp-WorkbenchPanel-model jp-WorkbenchPanel-zoo', title: entry.path }, [
          el('div', { class: 'jp-WorkbenchPanel-row' }, [
            el('div', { class: 'jp-WorkbenchPanel-name' }, [entry.name]),
            this.pickerButton(`zoo/${entry.name}`)
          ]),
          el('div', { class: 'jp-WorkbenchPanel-meta' }, [
            `${entry.architecture ?? entry.model_type ?? '?'} · ${humanBytes(entry.size_on_disk)}`
          ])
        ]);
        nodes.push(node);
      }
    }
    return nodes;
  }

  private emptyHint(): HTMLElement {
    return el('div', { class: 'jp-WorkbenchPanel-empty' }, [
      el('p', {}, ['No models cached yet.']),
      el('p', {}, [
        'Download one from a notebook (needs the network), e.g. ',
        el('code', {}, ['AutoModel.from_pretrained("prajjwal1/bert-tiny")']),
        ', then press Refresh. Or open tutorial 1 below: it builds a small model offline.'
      ])
    ]);
  }

  private pickerButton(name: string): HTMLElement {
    const button = el('button', {
      class: 'jp-WorkbenchPanel-picker jp-mod-styled',
      title: `Open ${name} in a ModelPicker: inserts a cell below the active one in the current notebook ` +
        '(with no notebook open, copies the code)'
    }, ['Picker']);
    button.addEventListener('click', () => void this.openInPicker(name));
    return button;
  }

  private async openInPicker(name: string): Promise<void> {
    const code = pickerCode(name);
    const done = await insertOrCopy(this.options.app, code);
    Notification.info(
      done === 'inserted'
        ? `Inserted a ModelPicker cell for ${name} below the active cell: run it with Shift+Enter.`
        : `Copied a ModelPicker cell for ${name}: paste it into a notebook cell.`,
      { autoClose: 5000 }
    );
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
    const gguf = model.gguf ?? [];
    const first = gguf.find(g => !g.error);
    const what = model.architecture ?? (first ? `${first.architecture} · ${first.quantization} GGUF` : null) ??
      model.model_type ?? 'no config.json, no GGUF file';
    const node = el('div', { class: 'jp-WorkbenchPanel-model' }, [
      el('div', { class: 'jp-WorkbenchPanel-row' }, [
        el('div', { class: 'jp-WorkbenchPanel-name' }, [model.repo_id]),
        el('div', { class: 'jp-WorkbenchPanel-actions' }, [this.pickerButton(model.repo_id), remove])
      ]),
      el('div', { class: 'jp-WorkbenchPanel-meta' }, [`${what} · ${humanBytes(model.size_on_disk)}`]),
      gguf.length ? el('ul', { class: 'jp-WorkbenchPanel-gguf' }, gguf.map(g => el('li', {}, [ggufLine(g)]))) : null,
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
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })],
      defaultButton: 0 // Cancel has the focus: Enter keeps the files
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
