// The page (index.html): one playground, configured by the page's URL parameters.
import { mount, reason } from './playground.js';

const app = document.getElementById('app');
// Embedded (in a frame, or compact): the page is just the playground.
const q = new URLSearchParams(location.search);
if (window.self !== window.top || q.get('compact') === '1') document.querySelector('.intro').hidden = true;
mount(app, location.search)
  .then((lab) => { window.genlab = lab; })
  .catch((e) => {
    const p = document.createElement('p');
    p.className = 'message';
    p.dataset.kind = 'error';
    p.setAttribute('role', 'alert');
    p.textContent = `genlab could not start: ${reason(e)}. Reload the page to try again.`;
    app.replaceChildren(p);
  });
