/**
 * The environment's task graph: upload (a JSON or YAML file, Fuel's format), download, and the layers the
 * engine will run: which task on which node in which layer, from the restart preview (the same plan that
 * Deploy changes runs).
 */
import { useId, useMemo, useState } from 'preact/hooks';
import { parse } from 'yaml';
import type { ClusterJson, GraphTaskJson } from '../../../lambdas/api/wire.js';
import { api, request } from '../api.js';
import { useAction, usePaged } from '../hooks.js';
import { useLive } from '../poll.js';
import { usePreview } from './preview.js';
import { ErrorLine, LiveView, Pager } from './ui.js';

const NODES_PER_PAGE = 20;

/** The tasks of an uploaded file: a JSON or YAML list, as `fuel graph --upload` reads it. */
export function parseGraphFile(name: string, text: string): unknown {
  if (/\.json$/i.test(name)) return JSON.parse(text);
  return parse(text);
}

/** The `Warning` header's texts (`199 fuel-sls "..."`, comma-separated). */
function warnings(header: string | null): string[] {
  if (header === null) return [];
  return [...header.matchAll(/199 \S+ "((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
}

/** A short fingerprint of a text (FNV-1a): tells one graph from another. */
function hash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}

export function GraphTab(props: {
  cluster: ClusterJson;
  /** Why the graph cannot be replaced now (the API refuses it while the environment is locked), or null. */
  lockedBecause: string | null;
  onChanged: () => Promise<void>;
}) {
  const { cluster, lockedBecause } = props;
  const path = `/clusters/${cluster.id}/deployment_tasks/`;
  // read again now and then: an upload from the CLI or another tab shows here too
  const graph = useLive((signal) => api.get<GraphTaskJson[]>(path, signal), 5000, [cluster.id]);
  const [said, setSaid] = useState<string[]>([]);
  const action = useAction();
  const whyId = useId();
  const version = useMemo(
    () => (graph.data === undefined ? '' : hash(JSON.stringify(graph.data))),
    [graph.data],
  );

  const upload = async (input: HTMLInputElement) => {
    const file = input.files?.[0];
    if (!file || lockedBecause !== null) return;
    setSaid([]);
    const done = await action.run(
      async () => {
        const tasks = parseGraphFile(file.name, await file.text());
        return request<GraphTaskJson[]>('PUT', path, tasks);
      },
      () => Promise.all([graph.refresh(), props.onChanged()]),
    );
    input.value = '';
    if (done.ok)
      setSaid([
        `Uploaded ${done.value.body.length} task(s) from ${file.name}.`,
        ...warnings(done.value.headers.get('warning')),
      ]);
  };

  // the graph as the API has it now, not as it was when the tab opened
  const download = () =>
    action.run(async () => {
      const tasks = await api.get<GraphTaskJson[]>(path);
      const blob = new Blob([`${JSON.stringify(tasks, null, 2)}\n`], { type: 'application/json' });
      const link = document.createElement('a');
      link.href = URL.createObjectURL(blob);
      link.download = `deployment-tasks-env-${cluster.id}.json`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    });

  return (
    <>
      <section class="card">
        <h3>Task graph</h3>
        <LiveView live={graph} what="the graph">
          {(tasks) => (
            <p data-testid="graph-count">
              {tasks.length} task(s)
              {cluster.is_customized ? ', uploaded for this environment' : ', the release’s own'}.
            </p>
          )}
        </LiveView>
        <div class="row">
          <label class="file">
            Upload a graph (JSON or YAML)
            <input
              type="file"
              name="graph"
              accept=".json,.yaml,.yml"
              disabled={lockedBecause !== null || action.busy}
              aria-describedby={lockedBecause !== null ? whyId : undefined}
              onChange={(e) => upload(e.currentTarget)}
            />
          </label>
          <button type="button" onClick={download} disabled={action.busy} data-action="download-graph">
            Download
          </button>
        </div>
        {lockedBecause !== null && (
          <p id={whyId} class="muted" data-why="upload-graph">
            Upload is not possible now: {lockedBecause}.
          </p>
        )}
        {said.length > 0 && (
          <ul class="said" data-testid="graph-said">
            {said.map((s) => (
              <li key={s}>{s}</li>
            ))}
          </ul>
        )}
        <ErrorLine error={action.error} onClose={action.clearError} />
      </section>
      {/* the layers are planned again when the graph changes */}
      <Layers key={version} clusterId={cluster.id} />
    </>
  );
}

function Layers({ clusterId }: { clusterId: number }) {
  const preview = usePreview(clusterId, false);
  const paged = usePaged(preview.data?.nodes ?? [], NODES_PER_PAGE);
  if (preview.error) {
    return (
      <section class="card">
        <h3>Layers</h3>
        <ErrorLine error={preview.error} prefix="Could not plan the layers: " onRetry={preview.refresh} />
      </section>
    );
  }
  const data = preview.data;
  if (data === undefined) return <section class="card muted">Planning the layers…</section>;
  const layers = Array.from({ length: data.layers }, (_, i) => i);
  const { shown } = paged;
  return (
    <section class="card">
      <h3>Layers the engine will run</h3>
      <p class="muted">
        One column per layer (one step of the state machine's Map); a layer starts when the one before has
        ended.
      </p>
      <div class="scroll-x">
        <table class="layers" aria-label="Layers">
          <thead>
            <tr>
              <th>Node</th>
              {layers.map((l) => (
                <th key={l}>{l + 1}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {shown.map((n) => (
              <tr key={n.node_id ?? 'sync'} data-node={n.node_id ?? ''}>
                <th>{n.name}</th>
                {layers.map((l) => (
                  <td key={l}>
                    {n.tasks
                      .filter((t) => t.layer === l)
                      .map((t) => (
                        <span
                          key={t.task_name}
                          class={`chip chip-${t.action}`}
                          title={`${t.task_name}: ${t.reason}`}
                        >
                          {t.task_name}
                        </span>
                      ))}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Pager page={paged.page} pages={paged.pages} onPage={paged.setPage} label="Layer nodes" />
    </section>
  );
}
