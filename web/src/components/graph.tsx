/**
 * The environment's task graph: upload (a JSON or YAML file, Fuel's format), download, and the layers the
 * engine will run: which task on which node in which layer, from the restart preview (the same plan that
 * Deploy changes runs).
 */
import { useState } from 'preact/hooks';
import { parse } from 'yaml';
import type { ClusterJson, GraphTaskJson } from '../../../lambdas/api/wire.js';
import { api, request } from '../api.js';
import { useLive } from '../poll.js';
import { usePreview } from './preview.js';
import { ErrorLine, Pager } from './ui.js';

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

export function GraphTab({ cluster, onChanged }: { cluster: ClusterJson; onChanged: () => Promise<void> }) {
  const graph = useLive(() => api.get<GraphTaskJson[]>(`/clusters/${cluster.id}/deployment_tasks/`), 0, [
    cluster.id,
  ]);
  const [said, setSaid] = useState<string[]>([]);
  const [error, setError] = useState<Error | null>(null);
  const [version, setVersion] = useState(0);

  const upload = async (input: HTMLInputElement) => {
    const file = input.files?.[0];
    if (!file) return;
    setError(null);
    setSaid([]);
    try {
      const tasks = parseGraphFile(file.name, await file.text());
      const reply = await request<GraphTaskJson[]>('PUT', `/clusters/${cluster.id}/deployment_tasks/`, tasks);
      setSaid([
        `Uploaded ${reply.body.length} task(s) from ${file.name}.`,
        ...warnings(reply.headers.get('warning')),
      ]);
      await graph.refresh();
      setVersion(version + 1);
      await onChanged();
    } catch (err) {
      setError(err instanceof Error ? err : new Error(String(err)));
    } finally {
      input.value = '';
    }
  };

  const download = () => {
    const blob = new Blob([`${JSON.stringify(graph.data ?? [], null, 2)}\n`], { type: 'application/json' });
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = `deployment-tasks-env-${cluster.id}.json`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  };

  return (
    <>
      <section class="card">
        <h3>Task graph</h3>
        <p>
          {graph.data === undefined
            ? 'Loading…'
            : `${graph.data.length} task(s)${cluster.is_customized ? ', uploaded for this environment' : ', the release’s own'}.`}
        </p>
        <div class="row">
          <label class="file">
            Upload a graph (JSON or YAML)
            <input
              type="file"
              name="graph"
              accept=".json,.yaml,.yml"
              onChange={(e) => upload(e.currentTarget)}
            />
          </label>
          <button
            type="button"
            onClick={download}
            disabled={graph.data === undefined}
            data-action="download-graph"
          >
            Download
          </button>
        </div>
        {said.length > 0 && (
          <ul class="said" data-testid="graph-said">
            {said.map((s) => (
              <li key={s}>{s}</li>
            ))}
          </ul>
        )}
        <ErrorLine error={graph.error ?? error} onClose={() => setError(null)} />
      </section>
      <Layers key={version} clusterId={cluster.id} />
    </>
  );
}

function Layers({ clusterId }: { clusterId: number }) {
  const preview = usePreview(clusterId, false);
  const [page, setPage] = useState(0);
  if (preview.error) {
    return (
      <section class="card">
        <h3>Layers</h3>
        <ErrorLine error={preview.error} />
      </section>
    );
  }
  const data = preview.data;
  if (data === undefined) return <section class="card muted">Planning the layers…</section>;
  const layers = Array.from({ length: data.layers }, (_, i) => i);
  const pages = Math.ceil(data.nodes.length / NODES_PER_PAGE);
  const shown = data.nodes.slice(page * NODES_PER_PAGE, (page + 1) * NODES_PER_PAGE);
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
      <Pager page={page} pages={pages} onPage={setPage} label="Layer nodes" />
    </section>
  );
}
