import { LabIcon } from '@jupyterlab/ui-components';

// A bench seen from the front: seat, back rail and legs.
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <rect x="2" y="4" width="20" height="3" rx="1"/>
    <rect x="2" y="11" width="20" height="3" rx="1"/>
    <rect x="4" y="7" width="2" height="4"/>
    <rect x="18" y="7" width="2" height="4"/>
    <rect x="4" y="14" width="2" height="7"/>
    <rect x="18" y="14" width="2" height="7"/>
  </g>
</svg>`;

export const workbenchIcon = new LabIcon({ name: 'workbench:bench', svgstr: svg });
