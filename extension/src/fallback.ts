// A saved notebook reopened with a fresh kernel shows each workbench view's saved static view,
// never "Error displaying widget: model not found".
//
// ipywidgets' manager (@jupyter-widgets/jupyterlab-manager; Notebook 7 loads the same one)
// renders application/vnd.jupyter.widget-view+json at rank -10: first with an app-wide renderer
// that has no widget manager yet, then, once the notebook's kernel is ready, with one bound to the
// notebook's manager (it calls removeMimeType then addFactory on the notebook's rendermime). When
// the saved model id is unknown to the manager (fresh kernel, no saved widget state), that renderer
// writes the error text, although the output also carries its fallbacks: our JSON view
// (application/vnd.workbench.*+json) or text/html.
//
// This notebook extension wraps whichever widget-view factory the notebook's rendermime holds,
// and wraps again each time the manager installs a new one. A wrapped output renders the
// manager's view inside itself and shows it as soon as it holds a live widget; while it holds none
// (model not found, no kernel, still loading after a grace period), an output that carries a
// fallback shows that fallback instead, marked as a static view. Outputs without a fallback are
// the manager's renderer alone, unchanged.
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Panel, Widget } from '@lumino/widgets';

import { el } from './dom';

export const WIDGET_VIEW_MIME = 'application/vnd.jupyter.widget-view+json';
const WORKBENCH_MIME = /^application\/vnd\.workbench\.[\w.-]+\+json$/;
// how long a view may say "Loading widget..." before the static view stands in (no kernel yet)
const GRACE_MS = 1500;
export const STATIC_NOTE = 'static view: run the cell to interact';

/** The part of a notebook's IRenderMimeRegistry this file uses (JupyterLab 4, Notebook 7). */
interface IRegistry {
  getFactory(mimeType: string): IRenderMime.IRendererFactory | undefined;
  getRank(mimeType: string): number | undefined;
  addFactory(factory: IRenderMime.IRendererFactory, rank?: number): void;
  removeMimeType(mimeType: string): void;
  createRenderer(mimeType: string): IRenderMime.IRenderer;
  preferredMimeType(bundle: IRenderMime.IMimeModel['data'], safe?: 'ensure' | 'prefer' | 'any'): string | undefined;
}

/** The output's best static view the rendermime can draw: our JSON view (rank 40) before its
 * text/html (rank 50); `undefined` when it carries neither. */
export function fallbackMimeType(rendermime: IRegistry, model: IRenderMime.IMimeModel): string | undefined {
  const fallbacks = Object.entries(model.data).filter(([mimeType]) => WORKBENCH_MIME.test(mimeType) || mimeType === 'text/html');
  if (!fallbacks.length) {
    return undefined;
  }
  return rendermime.preferredMimeType(Object.fromEntries(fallbacks), model.trusted ? 'any' : 'ensure');
}

/** The widget-view factory of one notebook's rendermime, wrapped; one per rendermime. */
class WrappedWidgetViews {
  inner: IRenderMime.IRendererFactory;
  readonly renderers = new Set<FallbackRenderer>();
  private readonly wrapper: IRenderMime.IRendererFactory;
  private readonly addFactory: IRegistry['addFactory'];

  constructor(readonly rendermime: IRegistry, inner: IRenderMime.IRendererFactory) {
    this.inner = inner;
    this.wrapper = {
      safe: inner.safe,
      mimeTypes: [WIDGET_VIEW_MIME],
      defaultRank: inner.defaultRank,
      createRenderer: options => new FallbackRenderer(options, this)
    };
    // the manager installs its own factory when the kernel is ready: wrap that one too, at once
    this.addFactory = rendermime.addFactory.bind(rendermime);
    rendermime.addFactory = (factory, rank) => {
      this.addFactory(factory, rank);
      if (factory !== this.wrapper && factory.mimeTypes.includes(WIDGET_VIEW_MIME)) {
        this.wrap();
      }
    };
    this.wrap();
  }

  private wrap(): void {
    const current = this.rendermime.getFactory(WIDGET_VIEW_MIME);
    if (!current || current === this.wrapper) {
      return;
    }
    const rank = this.rendermime.getRank(WIDGET_VIEW_MIME);
    this.inner = current;
    this.rendermime.removeMimeType(WIDGET_VIEW_MIME);
    this.addFactory(this.wrapper, rank);
    // views drawn by the earlier factory (no manager yet) are drawn again with this one
    this.renderers.forEach(renderer => renderer.rewire());
  }
}

const wrapped = new WeakMap<IRegistry, WrappedWidgetViews>();

/** Wrap the widget-view factory of `rendermime`, if it has one and it is not wrapped yet. */
export function wrapWidgetViews(rendermime: IRegistry): void {
  const inner = rendermime.getFactory(WIDGET_VIEW_MIME);
  if (inner && !wrapped.has(rendermime)) {
    wrapped.set(rendermime, new WrappedWidgetViews(rendermime, inner));
  }
}

type Shown = 'live' | 'static' | 'pending';

/** One widget-view output: the manager's renderer inside, or the output's static fallback. */
class FallbackRenderer extends Panel implements IRenderMime.IRenderer {
  private model: IRenderMime.IMimeModel | null = null;
  private fallbackMime: string | undefined;
  private inner: IRenderMime.IRenderer | null = null;
  private innerFactory: IRenderMime.IRendererFactory | null = null;
  private settled = false;
  private shown: Shown = 'pending';
  private staticView: Panel | null = null;
  private readonly observer = new MutationObserver(() => this.choose());
  private timer: number | undefined;

  constructor(private readonly options: IRenderMime.IRendererOptions, private readonly views: WrappedWidgetViews) {
    super();
    this.addClass('jp-WorkbenchWidgetView');
    views.renderers.add(this);
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this.model = model;
    this.fallbackMime = fallbackMimeType(this.views.rendermime, model);
    this.staticView?.dispose(); // a display update brings a newer fallback: drawn when shown
    this.staticView = null;
    if (this.shown === 'static') {
      this.showStatic();
    }
    return this.renderInner(model);
  }

  /** Draw again with the rendermime's current widget-view factory, if another drew this one. */
  rewire(): void {
    if (this.model && this.innerFactory !== this.views.inner) {
      void this.renderInner(this.model);
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.views.renderers.delete(this);
    this.observer.disconnect();
    window.clearTimeout(this.timer);
    super.dispose();
  }

  private async renderInner(model: IRenderMime.IMimeModel): Promise<void> {
    this.observer.disconnect();
    this.inner?.dispose();
    this.innerFactory = this.views.inner;
    const inner = this.innerFactory.createRenderer(this.options);
    this.inner = inner;
    this.settled = false;
    inner.setHidden(this.shown === 'static');
    this.insertWidget(0, inner);
    this.observer.observe(inner.node, { childList: true });
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.choose(true), GRACE_MS);
    try {
      await inner.renderModel(model);
    } finally {
      if (this.inner === inner) {
        this.settled = true;
        this.choose();
      }
    }
  }

  /** Live view when the inner renderer holds one; else the fallback, once the inner renderer has
   * settled without a view or the grace period is over. */
  private choose(graceOver = false): void {
    const inner = this.inner;
    if (!inner || this.isDisposed) {
      return;
    }
    if (inner.node.firstElementChild !== null || !this.fallbackMime) {
      this.shown = 'live';
      window.clearTimeout(this.timer);
      this.staticView?.setHidden(true);
      inner.setHidden(false);
    } else if (this.settled || graceOver || this.shown === 'static') {
      this.showStatic();
    }
  }

  private showStatic(): void {
    if (!this.model || !this.fallbackMime) {
      return;
    }
    this.shown = 'static';
    this.inner?.setHidden(true);
    if (!this.staticView) {
      const renderer = this.views.rendermime.createRenderer(this.fallbackMime);
      const note = new Widget({ node: el('div', { class: 'jp-WorkbenchFallback-note' }, [STATIC_NOTE]) });
      this.staticView = new Panel();
      this.staticView.addClass('jp-WorkbenchFallback');
      this.staticView.node.setAttribute('role', 'group');
      this.staticView.node.setAttribute('aria-label', `${STATIC_NOTE} (a saved copy, read-only)`);
      this.staticView.addWidget(note);
      this.staticView.addWidget(renderer);
      this.addWidget(this.staticView);
      void renderer.renderModel(this.model);
    }
    this.staticView.setHidden(false);
  }
}

/** Every notebook (JupyterLab and Notebook 7) gets its widget views wrapped when it is created,
 * before its outputs are drawn. */
export const fallbackPlugin: JupyterFrontEndPlugin<void> = {
  id: '@workbench/jupyterlab:widget-fallback',
  description: 'Shows a widget output\'s saved static view where ipywidgets finds no model (a notebook reopened with a fresh kernel).',
  autoStart: true,
  activate: (app: JupyterFrontEnd) => {
    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: panel => {
        const rendermime = (panel as unknown as { content?: { rendermime?: IRegistry } }).content?.rendermime;
        if (rendermime) {
          wrapWidgetViews(rendermime);
        }
      }
    });
  }
};
