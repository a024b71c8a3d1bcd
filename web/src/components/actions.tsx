/**
 * The environment's actions. Deploy changes shows first what it would run now (the restart preview) and
 * lets the operator resume (skip what ran ready with the same input); Stop deployment takes a reason;
 * Force stop, Reset and Delete are confirmed. Each is disabled, with a tooltip saying why, when the
 * service would refuse it.
 */
import { useEffect, useState } from 'preact/hooks';
import type { ClusterJson, TaskJson } from '../../../lambdas/api/wire.js';
import { api, withQuery } from '../api.js';
import { isRunning } from '../format.js';
import type { Activity } from './environment.js';
import { Preview } from './preview.js';
import { Action, Dialog, ErrorLine } from './ui.js';

type Open = 'deploy' | 'stop' | 'force' | 'reset' | 'delete' | null;

interface Reasons {
  deploy: string | null;
  stop: string | null;
  force: string | null;
  reset: string | null;
  delete: string | null;
}

export function disabledReasons(cluster: ClusterJson, activity: Activity, nodeCount: number): Reasons {
  const { deploy, stop, running } = activity;
  const deploying = deploy !== null && isRunning(deploy);
  const busy =
    running !== null
      ? `${running.name === 'deploy' ? 'A deployment' : running.name} (task ${running.id}) is running: stop it or wait for it to end`
      : cluster.is_locked
        ? `The environment is ${cluster.status}: wait for it to end`
        : null;
  const nothingRuns = deploying ? null : 'Nothing is running: there is no deployment to stop';
  return {
    deploy: busy ?? (nodeCount === 0 ? 'Add nodes to the environment first (Nodes tab)' : null),
    stop:
      nothingRuns ??
      (stop !== null
        ? `A stop was requested (task ${stop.id}); running tasks are finishing. Force stop also ends them`
        : null),
    force: nothingRuns,
    reset: busy ?? (cluster.status === 'new' ? 'Nothing to reset: the environment was never deployed' : null),
    delete: busy,
  };
}

export function Actions(props: {
  cluster: ClusterJson;
  activity: Activity;
  nodeCount: number;
  onChanged: () => Promise<void>;
}) {
  const { cluster } = props;
  const [open, setOpen] = useState<Open>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [reason, setReason] = useState('');
  const [resume, setResume] = useState(false);
  const reasons = disabledReasons(cluster, props.activity, props.nodeCount);
  // what an action answered is said for a few seconds; the status line says what holds after that
  useEffect(() => {
    if (done === null) return;
    const timer = setTimeout(() => setDone(null), 6000);
    return () => clearTimeout(timer);
  }, [done]);

  const act = async (what: () => Promise<TaskJson | null>, said: (t: TaskJson | null) => string) => {
    setBusy(true);
    setError(null);
    try {
      const task = await what();
      setDone(said(task));
      setOpen(null);
    } catch (err) {
      setError(err instanceof Error ? err : new Error(String(err)));
    } finally {
      setBusy(false);
      await props.onChanged();
    }
  };
  const path = `/clusters/${cluster.id}`;
  const close = () => {
    setOpen(null);
    setError(null);
  };

  return (
    <div class="actions">
      <Action
        name="deploy"
        label="Deploy changes"
        kind="primary"
        disabledBecause={reasons.deploy}
        hint="Shows what would run, then deploys"
        onClick={() => {
          setDone(null);
          setOpen('deploy');
        }}
      />
      <Action
        name="stop"
        label="Stop deployment"
        disabledBecause={reasons.stop}
        hint="No new task starts; running tasks finish"
        onClick={() => {
          setDone(null);
          setReason('');
          setOpen('stop');
        }}
      />
      <Action
        name="force-stop"
        label="Force stop"
        kind="danger"
        disabledBecause={reasons.force}
        hint="Also ends the tasks that run now"
        onClick={() => setOpen('force')}
      />
      <Action
        name="reset"
        label="Reset"
        disabledBecause={reasons.reset}
        hint="Returns the nodes to the pool of discovered nodes"
        onClick={() => setOpen('reset')}
      />
      <Action
        name="delete"
        label="Delete"
        kind="danger"
        disabledBecause={reasons.delete}
        hint="Deletes the environment"
        onClick={() => setOpen('delete')}
      />
      {done && (
        <span class="done" data-testid="action-done">
          {done}
        </span>
      )}
      {open === null && <ErrorLine error={error} onClose={() => setError(null)} />}

      {open === 'deploy' && (
        <Dialog
          title="Deploy changes"
          confirmLabel={resume ? 'Deploy (resume)' : 'Deploy'}
          busy={busy}
          onCancel={close}
          onConfirm={() =>
            act(
              () => api.put<TaskJson>(withQuery(`${path}/changes/`, { resume: resume ? 1 : undefined }), {}),
              (t) => `Deployment task ${t?.id} started.`,
            )
          }
        >
          <label class="check">
            <input
              type="checkbox"
              name="resume"
              checked={resume}
              onChange={(e) => setResume(e.currentTarget.checked)}
            />
            Resume: skip the tasks that already ran ready with the same input
          </label>
          <Preview clusterId={cluster.id} resume={resume} />
          <ErrorLine error={error} />
        </Dialog>
      )}
      {open === 'stop' && (
        <Dialog
          title="Stop deployment"
          confirmLabel="Stop deployment"
          busy={busy}
          onCancel={close}
          onConfirm={() =>
            act(
              () =>
                api.put<TaskJson>(
                  `${path}/stop_deployment/`,
                  reason.trim() === '' ? {} : { message: reason.trim() },
                ),
              (t) => `Stop requested (task ${t?.id}): running tasks finish, no new task starts.`,
            )
          }
        >
          <p>No new task starts; the tasks that run now finish. The nodes keep what they reached.</p>
          <label>
            Reason (optional, kept with the stop)
            <textarea name="reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
          </label>
          <ErrorLine error={error} />
        </Dialog>
      )}
      {open === 'force' && (
        <Dialog
          title="Force stop"
          kind="danger"
          confirmLabel="Force stop"
          busy={busy}
          onCancel={close}
          onConfirm={() =>
            act(
              () => api.put<TaskJson>(withQuery(`${path}/stop_deployment/`, { force: 1 }), {}),
              (t) => `Force stop requested (task ${t?.id}): running tasks are cancelled.`,
            )
          }
        >
          <p>The tasks that run now are cancelled on their nodes, and no new task starts.</p>
          <ErrorLine error={error} />
        </Dialog>
      )}
      {open === 'reset' && (
        <Dialog
          title="Reset the environment"
          kind="danger"
          confirmLabel="Reset"
          busy={busy}
          onCancel={close}
          onConfirm={() =>
            act(
              () => api.put<TaskJson>(`${path}/reset/`, {}),
              (t) => `Reset task ${t?.id} started.`,
            )
          }
        >
          <p>
            Every node of <strong>{cluster.name}</strong> returns to the discovered nodes and will be
            provisioned again. The history is kept.
          </p>
          <ErrorLine error={error} />
        </Dialog>
      )}
      {open === 'delete' && (
        <Dialog
          title="Delete the environment"
          kind="danger"
          confirmLabel="Delete"
          busy={busy}
          onCancel={close}
          onConfirm={() =>
            act(
              async () => {
                const task = await api.delete<TaskJson>(`${path}/`);
                location.hash = '#/';
                return task;
              },
              () => `Environment ${cluster.name} is being deleted.`,
            )
          }
        >
          <p>
            <strong>{cluster.name}</strong> is deleted; its nodes return to the discovered nodes.
          </p>
          <ErrorLine error={error} />
        </Dialog>
      )}
    </div>
  );
}
