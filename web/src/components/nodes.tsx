/**
 * The environment's nodes (status, error, online, roles, progress), a page at a time, with Remove; and the
 * free nodes, to add with roles.
 */
import { useState } from 'preact/hooks';
import type { ClusterJson, NodeJson } from '../../../lambdas/api/wire.js';
import { api, withQuery } from '../api.js';
import { useAction, usePaged } from '../hooks.js';
import { type Live, useLive } from '../poll.js';
import { someNames } from '../state.js';
import { Action, Dialog, ErrorLine, Pager, Progress, Status } from './ui.js';

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
  nodes: NodeJson[];
  /** Why the nodes cannot be changed now (the environment is locked, or its state unknown), or null. */
  lockedBecause: string | null;
  onChanged: () => Promise<void>;
}) {
  const { cluster, nodes, lockedBecause } = props;
  const paged = usePaged(nodes, PAGE);
  const [removing, setRemoving] = useState<NodeJson | null>(null);
  const action = useAction();
  // the free nodes: a removed node is one of them at once
  const free = useLive(
    (signal) => api.get<NodeJson[]>(withQuery('/nodes/', { cluster_id: 'None' }), signal),
    5000,
    [],
  );
  const changed = () => Promise.all([free.refresh(), props.onChanged()]);

  const remove = async (node: NodeJson) => {
    const done = await action.run(
      () => api.post(`/clusters/${cluster.id}/unassignment/`, [{ id: node.id }]),
      changed,
    );
    if (done.ok) setRemoving(null);
  };

  return (
    <>
      <section class="card">
        <h3>Nodes of {cluster.name}</h3>
        {removing === null && <ErrorLine error={action.error} onClose={action.clearError} />}
        {nodes.length === 0 ? (
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
              {paged.shown.map((n) => (
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
                    <Action
                      name="remove"
                      label="Remove"
                      hint={`Removes ${n.name} from the environment`}
                      disabledBecause={lockedBecause}
                      onClick={() => {
                        action.clearError();
                        setRemoving(n);
                      }}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <Pager page={paged.page} pages={paged.pages} onPage={paged.setPage} label="Nodes" />
      </section>
      <AddNodes cluster={cluster} free={free} lockedBecause={lockedBecause} onChanged={changed} />
      {removing && (
        <Dialog
          title="Remove the node"
          kind="danger"
          confirmLabel="Remove"
          busy={action.busy}
          confirmDisabledBecause={lockedBecause}
          onCancel={() => {
            setRemoving(null);
            action.clearError();
          }}
          onConfirm={() => remove(removing)}
        >
          <p>
            {removing.name} leaves {cluster.name} and returns to the free nodes.
          </p>
          <ErrorLine error={action.error} />
        </Dialog>
      )}
    </>
  );
}

function AddNodes(props: {
  cluster: ClusterJson;
  free: Live<NodeJson[]>;
  lockedBecause: string | null;
  onChanged: () => Promise<unknown>;
}) {
  const { cluster, free } = props;
  const roles = useLive(
    async (signal) => roleNames(await api.get<unknown>(`/clusters/${cluster.id}/roles/`, signal)),
    0,
    [cluster.id],
  );
  const [picks, setPicks] = useState<ReadonlySet<number>>(new Set());
  const [chosenRoles, setChosenRoles] = useState<ReadonlySet<string>>(new Set());
  const action = useAction();
  const list = free.data ?? [];
  const paged = usePaged(list, PAGE);
  // only what is free now can be added: a node taken elsewhere drops out of the picks
  const picked = list.filter((n) => picks.has(n.id));
  const toggle = <T,>(set: ReadonlySet<T>, value: T): Set<T> => {
    const next = new Set(set);
    if (next.has(value)) next.delete(value);
    else next.add(value);
    return next;
  };
  const why =
    props.lockedBecause ??
    (picked.length === 0
      ? 'Pick one or more free nodes'
      : chosenRoles.size === 0
        ? 'Pick one or more roles'
        : action.busy
          ? 'Adding…'
          : null);

  const add = async () => {
    const body = picked.map((n) => ({ id: n.id, roles: [...chosenRoles] }));
    const done = await action.run(
      () => api.post(`/clusters/${cluster.id}/assignment/`, body),
      props.onChanged,
    );
    if (done.ok) setPicks(new Set());
  };

  return (
    <section class="card" aria-label="Add nodes">
      <h3>Add nodes</h3>
      <ErrorLine error={free.error} prefix="Could not read the free nodes: " onRetry={free.refresh} />
      <ErrorLine error={roles.error} prefix="Could not read the roles: " onRetry={roles.refresh} />
      <ErrorLine error={action.error} onClose={action.clearError} />
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
              {paged.shown.map((n) => (
                <tr key={n.id} data-free-node={n.id}>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`pick ${n.name}`}
                      checked={picks.has(n.id)}
                      onChange={() => setPicks(toggle(picks, n.id))}
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
          <Pager page={paged.page} pages={paged.pages} onPage={paged.setPage} label="Free nodes" />
          <Action
            name="add-nodes"
            kind="primary"
            label={`Add ${picked.length > 0 ? picked.length : ''} node(s)`}
            hint={`Adds the picked nodes (${someNames(picked)}) with the picked roles`}
            disabledBecause={why}
            onClick={add}
          />
        </>
      )}
    </section>
  );
}
