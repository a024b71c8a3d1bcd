/** The environments: their statuses, and a new one from a name and a release. */
import { useState } from 'preact/hooks';
import type { ClusterJson, ReleaseJson } from '../../../lambdas/api/wire.js';
import { api } from '../api.js';
import { useLive } from '../poll.js';
import { ErrorLine, Status } from './ui.js';

export function Environments() {
  const clusters = useLive(() => api.get<ClusterJson[]>('/clusters/'), 3000, []);
  return (
    <main class="page">
      <section class="card">
        <h2>Environments</h2>
        <ErrorLine error={clusters.error} />
        {clusters.data === undefined ? (
          <p class="muted">Loading…</p>
        ) : clusters.data.length === 0 ? (
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
              {clusters.data.map((c) => (
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
        )}
      </section>
      <NewEnvironment onCreated={(id) => (location.hash = `#/env/${id}`)} />
    </main>
  );
}

function NewEnvironment({ onCreated }: { onCreated: (id: number) => void }) {
  const releases = useLive(() => api.get<ReleaseJson[]>('/releases/'), 0, []);
  const [name, setName] = useState('');
  const [release, setRelease] = useState<string>('');
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const chosen = release !== '' ? release : String(releases.data?.[0]?.id ?? '');

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const created = await api.post<ClusterJson>('/clusters/', {
        name: name.trim(),
        release_id: Number(chosen),
      });
      setName('');
      onCreated(created.id);
    } catch (err) {
      setError(err instanceof Error ? err : new Error(String(err)));
    } finally {
      setBusy(false);
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
        <button type="submit" class="primary" disabled={busy || name.trim() === '' || chosen === ''}>
          Create
        </button>
      </form>
      <ErrorLine error={releases.error ?? error} onClose={() => setError(null)} />
    </section>
  );
}
