/**
 * The environment's nodes (status, error, online, roles, progress), a page at a time, with Remove; and the
 * free nodes, to add with roles.
 */
import { useState } from 'preact/hooks';
import type { ClusterJson, NodeJson } from '../../../lambdas/api/wire.js';
import { api, withQuery } from '../api.js';
import { useLive } from '../poll.js';
import { Dialog, ErrorLine, Pager, Progress, Status } from './ui.js';

const PAGE = 50;

/** The names of a role list as the API gives it: names, or role objects with a `name`. */
export function roleNames(reply: unknown): string[] {
  if (!Array.isArray(reply)) return [];
  return reply
    .map((r: unknown) =>
      typeof r === 'string' ? r : typeof r === 'object' && r !== null && 'name' in r ? String(r.name) : '',
    )
    .filter((name) => name !== '');
}

export function NodesTab(props: {
  cluster: ClusterJson;
  nodes: NodeJson[] | undefined;
  locked: boolean;
  onChanged: () => Promise<void>;
}) {
  const { cluster, nodes, locked } = props;
  const [page, setPage] = useState(0);
  const [removing, setRemoving] = useState<NodeJson | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const all = nodes ?? [];
  const pages = Math.ceil(all.length / PAGE);
  const shown = all.slice(page * PAGE, (page + 1) * PAGE);
  const lockedBecause = locked ? 'A task runs on the environment: wait for it to end, or stop it' : null;

  const remove = async (node: NodeJson) => {
    setBusy(true);
    try {
      await api.post(`/clusters/${cluster.id}/unassignment/`, [{ id: node.id }]);
      setRemoving(null);
      setError(null);
    } catch (err) {
      setError(err instanceof Error ? err : new Error(String(err)));
    } finally {
      setBusy(false);
      await props.onChanged();
    }
  };

  return (
    <>
      <section class="card">
        <h3>Nodes of {cluster.name}</h3>
        <ErrorLine error={removing === null ? error : null} onClose={() => setError(null)} />
        {nodes === undefined ? (
          <p class="muted">Loading…</p>
        ) : all.length === 0 ? (
          <p class="muted">No node yet: add free nodes below.</p>
        ) : (
          <table class="list" aria-label="Nodes">
            <thead>
              <tr>
                <th>Id</th>
                <th>Name</th>
                <th>Roles</th>
                <th>Status</th>
                <th>Online</th>
                <th>Progress</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {shown.map((n) => (
                <tr key={n.id} data-node={n.id}>
                  <td>{n.id}</td>
                  <td>{n.name}</td>
                  <td>
                    {n.roles.join(', ')}
                    {n.pending_roles.length > 0 && (
                      <span class="pending"> +{n.pending_roles.join(', +')}</span>
                    )}
                  </td>
                  <td>
                    <Status value={n.status} />
                    {n.error_type && (
                      <span class="error-type" title={n.error_msg ?? ''}>
                        {' '}
                        {n.error_type} error
                      </span>
                    )}
                  </td>
                  <td>{n.online ? <span class="online">online</span> : <Status value="offline" />}</td>
                  <td>
                    <Progress value={n.progress} label={`node ${n.id} progress`} />
                  </td>
                  <td>
                    <span title={lockedBecause ?? 'Removes the node from the environment'}>
                      <button
                        type="button"
                        disabled={locked}
                        onClick={() => setRemoving(n)}
                        data-action="remove"
                      >
                        Remove
                      </button>
                    </span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <Pager page={page} pages={pages} onPage={setPage} label="Nodes" />
      </section>
      <AddNodes cluster={cluster} lockedBecause={lockedBecause} onChanged={props.onChanged} />
      {removing && (
        <Dialog
          title="Remove the node"
          kind="danger"
          confirmLabel="Remove"
          busy={busy}
          onCancel={() => setRemoving(null)}
          onConfirm={() => remove(removing)}
        >
          <p>
            {removing.name} leaves {cluster.name} and returns to the free nodes.
          </p>
          <ErrorLine error={error} />
        </Dialog>
      )}
    </>
  );
}

function AddNodes(props: {
  cluster: ClusterJson;
  lockedBecause: string | null;
  onChanged: () => Promise<void>;
}) {
  const { cluster } = props;
  const free = useLive(() => api.get<NodeJson[]>(withQuery('/nodes/', { cluster_id: 'None' })), 5000, []);
  const roles = useLive(async () => roleNames(await api.get<unknown>(`/clusters/${cluster.id}/roles/`)), 0, [
    cluster.id,
  ]);
  const [picked, setPicked] = useState<Set<number>>(new Set());
  const [chosenRoles, setChosenRoles] = useState<Set<string>>(new Set());
  const [page, setPage] = useState(0);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const list = free.data ?? [];
  const pages = Math.ceil(list.length / PAGE);
  const toggle = <T,>(set: Set<T>, value: T): Set<T> => {
    const next = new Set(set);
    if (next.has(value)) next.delete(value);
    else next.add(value);
    return next;
  };
  const why =
    props.lockedBecause ??
    (picked.size === 0
      ? 'Pick one or more free nodes'
      : chosenRoles.size === 0
        ? 'Pick one or more roles'
        : null);

  const add = async () => {
    setBusy(true);
    try {
      const body = [...picked].map((id) => ({ id, roles: [...chosenRoles] }));
      await api.post(`/clusters/${cluster.id}/assignment/`, body);
      setPicked(new Set());
      setError(null);
    } catch (err) {
      setError(err instanceof Error ? err : new Error(String(err)));
    } finally {
      setBusy(false);
      await Promise.all([free.refresh(), props.onChanged()]);
    }
  };

  return (
    <section class="card" aria-label="Add nodes">
      <h3>Add nodes</h3>
      <ErrorLine error={free.error ?? roles.error ?? error} onClose={() => setError(null)} />
      {list.length === 0 ? (
        <p class="muted">
          {free.data === undefined ? 'Loading…' : 'No free node: every discovered node is in an environment.'}
        </p>
      ) : (
        <>
          <fieldset class="roles">
            <legend>Roles</legend>
            {(roles.data ?? []).map((r) => (
              <label key={r} class="check">
                <input
                  type="checkbox"
                  name={`role-${r}`}
                  checked={chosenRoles.has(r)}
                  onChange={() => setChosenRoles(toggle(chosenRoles, r))}
                />
                {r}
              </label>
            ))}
          </fieldset>
          <table class="list" aria-label="Free nodes">
            <thead>
              <tr>
                <th />
                <th>Id</th>
                <th>Name</th>
                <th>Status</th>
                <th>Online</th>
              </tr>
            </thead>
            <tbody>
              {list.slice(page * PAGE, (page + 1) * PAGE).map((n) => (
                <tr key={n.id} data-free-node={n.id}>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`pick ${n.name}`}
                      checked={picked.has(n.id)}
                      onChange={() => setPicked(toggle(picked, n.id))}
                    />
                  </td>
                  <td>{n.id}</td>
                  <td>{n.name}</td>
                  <td>
                    <Status value={n.status} />
                  </td>
                  <td>{n.online ? 'online' : <Status value="offline" />}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager page={page} pages={pages} onPage={setPage} label="Free nodes" />
          <span title={why ?? 'Adds the picked nodes with the picked roles'}>
            <button
              type="button"
              class="primary"
              disabled={why !== null || busy}
              onClick={add}
              data-action="add-nodes"
            >
              Add {picked.size > 0 ? picked.size : ''} node(s)
            </button>
          </span>
        </>
      )}
    </section>
  );
}
