// A table whose rows are chosen by click, Enter or Space, with the arrow keys (Home, End) moving
// between rows: the ARIA grid pattern with one tabbable row (roving tabindex). The kernel side is
// workbench/widgets/row_table.py: it sends `columns` and `rows`, and reads `selected` (a row key).

function cell(tag, text, attrs) {
  const node = document.createElement(tag);
  node.textContent = text;
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null && value !== '') node.setAttribute(key, value);
  }
  return node;
}

// The last row chosen in the page. Choosing one makes the kernel rewrite the notebook's saved view,
// which re-creates this output (a new view of the same model): the new view gives the focus back
// to that row, so the keyboard carries on where it was.
let lastChoice = { key: null, at: 0 };

function render({ model, el }) {
  const root = document.createElement('div');
  root.className = 'wb-view wb-rows';
  el.append(root);
  let focusKey = null; // the row that holds tabindex=0 (the last one focused)

  const rowNodes = () => Array.from(root.querySelectorAll('tbody tr[data-key]'));

  function choose(row) {
    focusKey = row.dataset.key;
    lastChoice = { key: row.dataset.key, at: Date.now() };
    model.set('selected', row.dataset.key);
    model.save_changes();
  }

  function move(row, step) {
    const rows = rowNodes();
    const index = rows.indexOf(row);
    const target = step === 'first' ? rows[0] : step === 'last' ? rows[rows.length - 1] : rows[index + step];
    if (!target) return;
    row.tabIndex = -1;
    target.tabIndex = 0;
    focusKey = target.dataset.key;
    target.focus();
  }

  function draw() {
    const columns = model.get('columns');
    const rows = model.get('rows');
    const selected = model.get('selected');
    const focusLost = document.activeElement === document.body || !document.activeElement;
    const refocus = focusLost && Date.now() - lastChoice.at < 5000 && rows.some(row => row.key === lastChoice.key);
    if (refocus) {
      focusKey = lastChoice.key;
    }
    const hadFocus = root.contains(document.activeElement) || refocus;
    const keys = rows.map(row => row.key);
    const tabbable = keys.includes(focusKey) ? focusKey : keys.includes(selected) ? selected : keys[0];
    const table = cell('table', '', { role: 'grid', 'aria-label': model.get('label') });
    const head = cell('tr', '', { role: 'row' });
    for (const column of columns) {
      head.append(cell('th', column.label, { role: 'columnheader', scope: 'col', title: column.title,
                                              class: column.numeric ? 'num' : undefined }));
    }
    table.append(cell('thead'), cell('tbody'));
    table.tHead.append(head);
    for (const row of rows) {
      const tr = cell('tr', '', { role: 'row', 'data-key': row.key, title: row.title,
                                  'aria-selected': String(row.key === selected) });
      tr.tabIndex = row.key === tabbable ? 0 : -1;
      row.cells.forEach((text, index) => {
        tr.append(cell('td', text, { role: 'gridcell', class: columns[index]?.numeric ? 'num' : undefined }));
      });
      table.tBodies[0].append(tr);
    }
    if (!rows.length) {
      const empty = cell('tr', '', { role: 'row' });
      empty.append(cell('td', model.get('empty_text'), { role: 'gridcell', colspan: String(columns.length),
                                                         class: 'note' }));
      table.tBodies[0].append(empty);
    }
    root.replaceChildren(table);
    if (hadFocus) {
      rowNodes().find(tr => tr.tabIndex === 0)?.focus();
    }
  }

  root.addEventListener('click', event => {
    const row = event.target.closest('tbody tr[data-key]');
    if (row) {
      row.focus();
      choose(row);
    }
  });
  root.addEventListener('keydown', event => {
    const row = event.target.closest('tbody tr[data-key]');
    if (!row) return;
    const steps = { ArrowDown: 1, ArrowUp: -1, Home: 'first', End: 'last' };
    if (event.key in steps) {
      move(row, steps[event.key]);
    } else if (event.key === 'Enter' || event.key === ' ') {
      choose(row);
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation(); // not JupyterLab's notebook shortcuts
  });
  model.on('change:rows', draw);
  model.on('change:columns', draw);
  model.on('change:selected', draw);
  draw();
  // a view re-created after a choice is attached after render() returns: focus it then
  requestAnimationFrame(() => {
    if (Date.now() - lastChoice.at < 5000 && (document.activeElement === document.body || !document.activeElement)) {
      rowNodes().find(tr => tr.dataset.key === lastChoice.key)?.focus();
    }
  });
}

export default { render };
