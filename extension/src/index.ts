// The Workbench side panel and its launcher items (the MIME renderers are in mime.ts), and the
// static views that stand in for widgets whose model is gone (fallback.ts).
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';

import { ITutorial, ITutorialsReply, requestAPI } from './api';
import { fallbackPlugin } from './fallback';
import { workbenchIcon } from './icons';
import { WorkbenchPanel, openTutorial } from './panel';

namespace CommandIDs {
  export const showPanel = 'workbench:show-panel';
  export const openTutorial = 'workbench:open-tutorial';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: '@workbench/jupyterlab:panel',
  description: 'Models in the Hugging Face cache and the workbench tutorials, in a side panel and the launcher.',
  autoStart: true,
  optional: [ILayoutRestorer, ILauncher, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    launcher: ILauncher | null,
    palette: ICommandPalette | null
  ) => {
    const openPath = (path: string) => app.commands.execute('docmanager:open', { path });
    const panel = new WorkbenchPanel({ openPath, app });
    panel.title.icon = workbenchIcon;
    app.shell.add(panel, 'left', { rank: 850 });
    restorer?.add(panel, 'workbench-panel');

    app.commands.addCommand(CommandIDs.showPanel, {
      label: 'Show the Workbench panel',
      icon: workbenchIcon,
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.openTutorial, {
      label: args => (args.number ? `${args.number}. ` : '') + ((args.title as string) ?? 'Workbench tutorial'),
      caption: args => (args.description as string) ?? `Open ${args.name as string}`,
      icon: workbenchIcon,
      execute: args => openTutorial(args as unknown as ITutorial, openPath)
    });
    palette?.addItem({ command: CommandIDs.showPanel, category: 'Workbench' });

    if (launcher) {
      requestAPI<ITutorialsReply>('tutorials')
        .then(reply => {
          reply.tutorials.forEach((tutorial, rank) => {
            launcher.add({
              command: CommandIDs.openTutorial,
              category: 'Workbench',
              rank,
              args: { ...tutorial }
            });
          });
        })
        .catch(error => console.warn('workbench: no tutorials for the launcher', error));
    }
  }
};

export default [plugin, fallbackPlugin];
