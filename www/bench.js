// The benchmark page (www/bench.html): one JSON line in #out, read by scripts/bench_page.py.
import init, { bench, profile } from '../genlab.js';

const q = new URLSearchParams(location.search);
const out = document.getElementById('out');
const int = (name, dflt) => {
  const v = q.get(name) ?? String(dflt);
  if (!/^\d+$/.test(v)) throw new Error(`${name}=${v} is not a whole number`);
  return Number(v);
};
try {
  await init();
  if (q.get('profile') === '1') {
    // One training step, op by op: the table below, its JSON in #out.
    const [table, json] = await profile(q.get('model') || 'dcgan', int('batch', 64), int('reps', 3));
    document.getElementById('table').textContent = table;
    out.textContent = json;
  } else {
    const args = [q.get('model') || 'dcgan', q.get('size') || 'full', int('batch', 0), int('steps', 10),
      int('warmup', 2), q.get('backend') || 'gpu'];
    // hold=1: wait for window.genlabGo() (a profiler attaches first; scripts/bench_page.py).
    if (q.get('hold') === '1') await new Promise((go) => { window.genlabGo = go; });
    out.textContent = await bench(...args);
  }
} catch (e) {
  out.textContent = JSON.stringify({ error: String(e && e.message || e) });
}
