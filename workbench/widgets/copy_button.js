// A button that copies `text` to the clipboard (where the browser allows it) and tells the kernel
// it was pressed, which then shows the text in a box to copy from by hand. Kernel side:
// workbench/widgets/row_table.py (CopyButton).

function render({ model, el }) {
  const button = document.createElement('button');
  button.className = 'jupyter-button wb-copy';
  button.type = 'button';
  const note = document.createElement('span');
  note.className = 'wb-copy-note';
  note.setAttribute('aria-live', 'polite');
  const update = () => {
    button.textContent = model.get('label');
    button.title = model.get('hint');
    button.disabled = !model.get('text');
  };
  button.addEventListener('click', async () => {
    model.send({ event: 'copy' });
    try {
      await navigator.clipboard.writeText(model.get('text'));
      note.textContent = 'copied to the clipboard';
    } catch (error) {
      note.textContent = 'the browser refused the clipboard: copy the code from the box below';
    }
  });
  model.on('change:label', update);
  model.on('change:text', () => { update(); note.textContent = ''; });
  update();
  el.append(button, note);
}

export default { render };
