/** What Deploy changes would run now, node by node, and why; and what it would skip. */
import type { DeploymentPreviewJson as PreviewJson } from '../../../lambdas/api/wire.js';
import { api, withQuery } from '../api.js';
import { usePaged } from '../hooks.js';
import { type Live, useLive } from '../poll.js';
import { ErrorLine, Pager } from './ui.js';

const NODES_PER_PAGE = 15;

/** The restart preview, read now and every `everyMs` (none when 0). */
export function usePreview(clusterId: number, resume: boolean, everyMs = 0): Live<PreviewJson> {
  return useLive(
    (signal) =>
      api.get<PreviewJson>(
        withQuery(`/clusters/${clusterId}/changes/preview/`, { resume: resume ? 1 : 0 }),
        signal,
      ),
    everyMs,
    [clusterId, resume],
  );
}

export function Preview({ preview }: { preview: Live<PreviewJson> }) {
  const paged = usePaged(preview.data?.nodes ?? [], NODES_PER_PAGE);
  if (preview.error)
    return <ErrorLine error={preview.error} prefix="Could not preview: " onRetry={preview.refresh} />;
  const data = preview.data;
  if (data === undefined) return <p class="muted">Reading what would run…</p>;
  const { shown } = paged;
  return (
    <div class="preview" data-testid="preview">
      <p data-testid="preview-summary">
        Would provision <strong>{data.summary.provision}</strong> node(s), run{' '}
        <strong>{data.summary.run}</strong> task(s) and skip <strong>{data.summary.skip}</strong>, on{' '}
        {data.nodes.length} node(s), in {data.layers} layer(s).
      </p>
      <table class="list compact">
        <thead>
          <tr>
            <th>Node</th>
            <th>Provision</th>
            <th>Runs</th>
            <th>Skips</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((n) => {
            const run = n.tasks.filter((t) => t.action === 'run');
            const skip = n.tasks.filter((t) => t.action === 'skip');
            return (
              <tr key={n.node_id ?? 'sync'} data-node={n.node_id ?? ''}>
                <td>{n.name}</td>
                <td>{n.provision ? (n.provision_reason ?? 'yes') : 'no'}</td>
                <td>
                  <ReasonList tasks={run} />
                </td>
                <td>
                  <ReasonList tasks={skip} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <Pager page={paged.page} pages={paged.pages} onPage={paged.setPage} label="Preview nodes" />
    </div>
  );
}

/** Task names grouped by their reason: "node was stopped: a, b, c". */
function ReasonList({ tasks }: { tasks: PreviewJson['nodes'][number]['tasks'] }) {
  if (tasks.length === 0) return <span class="muted">none</span>;
  const byReason = new Map<string, string[]>();
  for (const t of tasks) {
    const names = byReason.get(t.reason);
    if (names) names.push(t.task_name);
    else byReason.set(t.reason, [t.task_name]);
  }
  return (
    <ul class="reasons">
      {[...byReason].map(([reason, names]) => (
        <li key={reason}>
          <span class="reason">{reason}</span>: {names.join(', ')}
        </li>
      ))}
    </ul>
  );
}
