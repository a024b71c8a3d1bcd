/** The environments: their statuses, and a new one from a name and a release. */
import { useState } from 'preact/hooks';
import type { ClusterJson, ReleaseJson } from '../../../lambdas/api/wire.js';
import { api } from '../api.js';
import { useAction } from '../hooks.js';
import { type Notice, notice } from '../notice.js';
import { clock, useLive } from '../poll.js';
import { ErrorLine, LiveView, Status } from './ui.js';

export function Environments() {
  const clusters = useLive((signal) => api.get<ClusterJson[]>('/clusters/', signal), 3000, []);
  // what the page before said (an environment deleted), taken once
  const [said, setSaid] = useState<Notice | null>(() => notice.take());
  return (
    <main class="page">
      <section class="card">
        <h2>Environments</h2>
        {said && (
          <p class="done" role="status" data-testid="list-notice">
            {clock(said.at)}: {said.text}
            <button type="button" class="link" aria-label="Dismiss" onClick={() => setSaid(null)}>
              ×
            </button>
          </p>
        )}
        <LiveView live={clusters} what="the environments">
          {(list) =>
            list.length === 0 ? (
              <p class="muted">No environment yet: create one below.</p>
            ) : (
              <table class="list" aria-label="Environments">
                <thead>
                  <tr>
                    <th>Id</th>
                    <th>Name</th>
                    <th>Status</th>
                    <th>Release</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((c) => (
                    <tr key={c.id} data-cluster={c.id}>
                      <td>{c.id}</td>
                      <td>
                        <a href={`#/env/${c.id}`}>{c.name}</a>
                      </td>
                      <td>
                        <Status value={c.status} />
                      </td>
                      <td>{c.release_id}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )
          }
        </LiveView>
      </section>
      <NewEnvironment
        onCreated={(id) => {
          location.hash = `#/env/${id}`;
        }}
      />
    </main>
  );
}

function NewEnvironment({ onCreated }: { onCreated: (id: number) => void }) {
  const releases = useLive((signal) => api.get<ReleaseJson[]>('/releases/', signal), 0, []);
  const [name, setName] = useState('');
  const [release, setRelease] = useState<string>('');
  const action = useAction();
  const chosen = release !== '' ? release : String(releases.data?.[0]?.id ?? '');

  const submit = async (e: Event) => {
    e.preventDefault();
    const done = await action.run(() =>
      api.post<ClusterJson>('/clusters/', { name: name.trim(), release_id: Number(chosen) }),
    );
    if (done.ok) {
      setName('');
      onCreated(done.value.id);
    }
  };

  return (
    <section class="card">
      <h2>New environment</h2>
      <form class="row" onSubmit={submit} aria-label="New environment">
        <label>
          Name
          <input name="name" value={name} required onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Release
          <select name="release" value={chosen} onChange={(e) => setRelease(e.currentTarget.value)}>
            {(releases.data ?? []).map((r) => (
              <option key={r.id} value={r.id}>
                {r.name} ({r.version})
              </option>
            ))}
          </select>
        </label>
        <button type="submit" class="primary" disabled={action.busy || name.trim() === '' || chosen === ''}>
          Create
        </button>
      </form>
      <ErrorLine error={releases.error} prefix="Could not read the releases: " onRetry={releases.refresh} />
      <ErrorLine error={action.error} onClose={action.clearError} />
    </section>
  );
}
