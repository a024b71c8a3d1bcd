/**
 * The web UI: one page with the environments, their nodes and tasks, and the Deploy / Stop buttons.
 * It uses only the public API with the operator's X-Auth-Token (kept in the browser's local storage).
 * Each environment's tasks are read newest first, page by page (`limit`, `X-Next-Marker`), as many as
 * it shows: ten at first, ten more for each press of "Older tasks".
 */
export const UI_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Fuel deployments</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2733; background: #f5f7fa; }
  body { margin: 0; }
  header { background: #1d2733; color: #fff; padding: 0.8rem 1.2rem; display: flex; gap: 1rem; align-items: center; }
  header h1 { font-size: 1.1rem; margin: 0; flex: 1; }
  header input { width: 22rem; padding: 0.3rem; }
  main { padding: 1rem 1.2rem; display: grid; gap: 1rem; }
  section { background: #fff; border: 1px solid #d8dee6; border-radius: 6px; padding: 0.8rem 1rem; }
  h2 { font-size: 1rem; margin: 0 0 0.6rem; display: flex; gap: 0.6rem; align-items: center; }
  table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
  th, td { text-align: left; padding: 0.25rem 0.5rem; border-bottom: 1px solid #eef1f5; }
  .status { font-weight: 600; padding: 0.05rem 0.45rem; border-radius: 3px; background: #e8ecf1; }
  .ready, .operational { background: #d9f2df; } .error { background: #fadbd8; }
  .stopped { background: #fdebc8; } .deploying, .deployment, .running, .provisioning { background: #d6e8fb; }
  button { padding: 0.35rem 0.8rem; border-radius: 4px; border: 1px solid #8896a6; background: #fff; cursor: pointer; }
  button.primary { background: #1f6feb; color: #fff; border-color: #1f6feb; }
  button.danger { background: #c93c37; color: #fff; border-color: #c93c37; }
  button:disabled { opacity: 0.45; cursor: default; }
  progress { width: 8rem; }
  #message { color: #3b4a5a; min-height: 1.2rem; }
</style>
</head>
<body>
<header>
  <h1>Fuel deployments</h1>
  <label>X-Auth-Token <input id="token" type="password" autocomplete="off"></label>
</header>
<main>
  <div id="message" role="status"></div>
  <div id="clusters"></div>
</main>
<script>
const request = (path, options = {}) =>
  fetch('/api/v1' + path, {
    ...options,
    headers: { 'X-Auth-Token': localStorage.getItem('fuel-token') || '', 'Content-Type': 'application/json' },
  }).then(async (res) => {
    const body = res.status === 204 ? null : await res.json().catch(() => null);
    if (!res.ok) throw new Error((body && body.message) || res.status + ' ' + res.statusText);
    return { body, next: res.headers.get('X-Next-Marker') };
  });
const api = (path, options) => request(path, options).then((r) => r.body);
const PAGE = 20;
const STEP = 10;
const wanted = {};
// an environment's top-level tasks, newest first: pages until it has as many as it shows, or the end
async function tasksOf(clusterId) {
  const want = wanted[clusterId] || STEP;
  const tasks = [];
  let marker = null;
  do {
    const page = await request('/transactions/?cluster_id=' + clusterId + '&order_by=-id&limit=' + PAGE +
      (marker ? '&marker=' + encodeURIComponent(marker) : ''));
    tasks.push(...page.body.filter((t) => t.parent_id === null));
    marker = page.next;
  } while (marker && tasks.length < want);
  return { tasks: tasks.slice(0, want), more: tasks.length > want || marker !== null };
}
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const badge = (s) => '<span class="status ' + esc(s) + '">' + esc(s) + '</span>';
const say = (text) => { document.getElementById('message').textContent = text || ''; };

async function act(label, path, method = 'PUT') {
  try {
    const task = await api(path, { method, body: '{}' });
    say(label + ': task ' + task.id + ' (' + task.name + ') is ' + task.status);
  } catch (err) {
    say(label + ' refused: ' + err.message);
  }
  refresh();
}

async function refresh() {
  if (!localStorage.getItem('fuel-token')) { say('Enter the X-Auth-Token to see the environments.'); return; }
  try {
    const [clusters, nodes] = await Promise.all([api('/clusters/'), api('/nodes/')]);
    const tasks = await Promise.all(clusters.map((c) => tasksOf(c.id)));
    const html = clusters.map((c, i) => {
      const members = nodes.filter((n) => n.cluster === c.id);
      const mine = tasks[i].tasks;
      const running = mine.find(
        (t) =>
          t.status === 'running' &&
          t.parent_id === null &&
          ['deploy', 'provision', 'deployment'].includes(t.name),
      );
      const stopping = mine.find((t) => t.name === 'stop_deployment' && t.status === 'running');
      return '<section data-cluster="' + c.id + '"><h2>' + esc(c.name) + ' ' + badge(c.status) +
        '<button class="primary" data-action="deploy" ' + (c.is_locked ? 'disabled' : '') + '>Deploy changes</button>' +
        '<button class="danger" data-action="stop" ' + (running && !stopping ? '' : 'disabled') + '>Stop deployment</button>' +
        '<button data-action="force" ' + (running ? '' : 'disabled') + '>Force stop</button>' +
        '<button data-action="reset" ' + (c.is_locked ? 'disabled' : '') + '>Reset</button></h2>' +
        '<table><tr><th>node</th><th>roles</th><th>status</th><th>error</th><th>progress</th></tr>' +
        members.map((n) => '<tr><td>' + esc(n.name) + '</td><td>' + esc([...n.roles, ...n.pending_roles].join(', ')) +
          '</td><td>' + badge(n.status) + '</td><td>' + esc(n.error_type) + '</td><td><progress max="100" value="' + n.progress + '"></progress></td></tr>').join('') +
        '</table><table><tr><th>task</th><th>status</th><th>progress</th><th>message</th></tr>' +
        mine.map((t) => '<tr><td>' + t.id + ' ' + esc(t.name) + '</td><td>' + badge(t.status) + '</td><td><progress max="100" value="' +
          t.progress + '"></progress></td><td>' + esc(t.message) + '</td></tr>').join('') + '</table>' +
        (tasks[i].more ? '<button data-action="more">Older tasks</button>' : '') + '</section>';
    }).join('');
    document.getElementById('clusters').innerHTML = html || '<section>No environments yet.</section>';
  } catch (err) {
    say('Cannot read the environments: ' + err.message);
  }
}

document.getElementById('clusters').addEventListener('click', (event) => {
  const button = event.target.closest('button[data-action]');
  if (!button) return;
  const id = button.closest('section').dataset.cluster;
  if (button.dataset.action === 'more') {
    wanted[id] = (wanted[id] || STEP) + STEP;
    refresh();
    return;
  }
  const paths = {
    deploy: ['Deploy changes', '/clusters/' + id + '/changes/'],
    stop: ['Stop deployment', '/clusters/' + id + '/stop_deployment/'],
    force: ['Force stop', '/clusters/' + id + '/stop_deployment/?force=1'],
    reset: ['Reset', '/clusters/' + id + '/reset/'],
  };
  const [label, path] = paths[button.dataset.action];
  act(label, path);
});
const tokenInput = document.getElementById('token');
tokenInput.value = localStorage.getItem('fuel-token') || '';
tokenInput.addEventListener('change', () => { localStorage.setItem('fuel-token', tokenInput.value.trim()); refresh(); });
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`;
