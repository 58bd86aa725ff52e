// The tutorial's second playground, mounted and driven through mount()'s handle
// (the code shown in www/tutorial.html).
import { mount, reason } from './playground.js';

const root = document.getElementById('mounted');
const out = document.getElementById('progress');
try {
  const lab = await mount(root, { models: 'mlp-gan,ae', charts: 0, controls: 0, steps: 2000 });
  lab.addEventListener('progress', (e) => {
    out.textContent = e.detail.panes.map((p) => `${p.model}: step ${p.step}`).join(', ');
  });
  document.getElementById('go').addEventListener('click', () => lab.train());
  document.getElementById('stop').addEventListener('click', () => lab.pause());
  window.genlab = lab;
} catch (e) {
  const p = document.createElement('p');
  p.className = 'message';
  p.dataset.kind = 'error';
  p.setAttribute('role', 'alert');
  p.textContent = `This playground could not start: ${reason(e)}. Reload the page to try again.`;
  root.classList.add('genlab');
  root.replaceChildren(p);
}
