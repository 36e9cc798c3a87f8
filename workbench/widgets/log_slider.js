// A slider over powers of ten that says its value in real units: the handle moves along the
// exponent (an <input type="range">), while the readout and the screen reader's aria-valuetext give
// the value itself ("atol 1.0e-05"), not the exponent. The kernel side is log_slider.py.

function render({ model, el }) {
  const root = document.createElement('label');
  root.className = 'wb-view wb-logslider';
  const name = document.createElement('span');
  const input = document.createElement('input');
  input.type = 'range';
  const readout = document.createElement('output');
  root.append(name, input, readout);
  el.append(root);

  // as Python's f"{value:.1e}" writes it (1.0e-05), so the page and value_text agree
  function text(value) {
    const [mantissa, exponent] = Number(value).toExponential(1).split('e');
    const sign = exponent.startsWith('-') ? '-' : '+';
    return `${mantissa}e${sign}${exponent.replace(/^[+-]/, '').padStart(2, '0')}`;
  }
  function say(value) {
    readout.textContent = text(value);
    input.setAttribute('aria-valuetext', `${model.get('description')} ${text(value)}`);
  }
  function sync() {
    name.textContent = model.get('description');
    input.min = model.get('min');
    input.max = model.get('max');
    input.step = model.get('step');
    input.value = Math.log10(model.get('value'));
    say(model.get('value'));
  }
  // the arrow, Home/End and Page keys move the slider, not the notebook's cell selection
  input.addEventListener('keydown', event => event.stopPropagation());
  input.addEventListener('input', () => say(10 ** Number(input.value)));
  input.addEventListener('change', () => {
    model.set('value', 10 ** Number(input.value));
    model.save_changes();
  });
  model.on('change:value', sync);
  model.on('change:description', sync);
  sync();
}

export default { render };
