/**
 * The environment's actions. Deploy changes shows first what it would run now (the restart preview) and
 * lets the operator resume (skip what ran ready with the same input); it can be confirmed only once the
 * preview has answered. Stop deployment takes a reason; Force stop, Reset and Delete are confirmed. Each
 * is disabled, with the reason (its tooltip and its description), when the service would refuse it.
 * What an action answered is said as a past event, until a newer reading shows it changed.
 */
import { useEffect, useState } from 'preact/hooks';
import type { ClusterJson, NodeJson, TaskJson } from '../../../lambdas/api/wire.js';
import { api, withQuery } from '../api.js';
import { deploymentLabel } from '../format.js';
import { useAction } from '../hooks.js';
import { notice } from '../notice.js';
import { clock } from '../poll.js';
import { type Activity, disabledReasons, type Kind, type Reasons } from '../state.js';
import { Preview, usePreview } from './preview.js';
import { Action, Dialog, ErrorLine } from './ui.js';

/** What an action answered: a past event, with the task it named and that task's status then. */
interface Done {
  text: string;
  at: number;
  taskId: number;
  status: string;
}

/** A reading taken after the action shows its task moved on (or a newer task): the message is history. */
function superseded(done: Done, tasks: readonly TaskJson[], readAt: number | null): boolean {
  if (readAt === null || readAt <= done.at) return false;
  const task = tasks.find((t) => t.id === done.taskId);
  if (task === undefined || task.status !== done.status) return true;
  return tasks.some((t) => t.parent_id === null && t.id > done.taskId);
}

interface Spec {
  label: string;
  kind: 'primary' | 'danger' | 'plain';
  hint: string;
}

const SPECS: Record<Kind, Spec> = {
  deploy: { label: 'Deploy changes', kind: 'primary', hint: 'Shows what would run, then deploys' },
  stop: { label: 'Stop deployment', kind: 'plain', hint: 'No new task starts; running tasks finish' },
  force: { label: 'Force stop', kind: 'danger', hint: 'Also ends the tasks that run now' },
  reset: { label: 'Reset', kind: 'plain', hint: 'Returns the nodes to the pool of discovered nodes' },
  delete: { label: 'Delete', kind: 'danger', hint: 'Deletes the environment' },
};

const NAMES: Record<Kind, string> = {
  deploy: 'deploy',
  stop: 'stop',
  force: 'force-stop',
  reset: 'reset',
  delete: 'delete',
};

export function Actions(props: {
  cluster: ClusterJson;
  activity: Activity;
  nodes: NodeJson[];
  tasks: TaskJson[];
  /** When the reading shown was taken. */
  readAt: number | null;
  /** Why nothing can be done now (the state is unknown), or null. */
  unknownBecause: string | null;
  /** The current deployment's stop was forced (its task says so). */
  forced: boolean;
  onChanged: () => Promise<void>;
}) {
  const { cluster, activity } = props;
  const [open, setOpen] = useState<Kind | null>(null);
  const [done, setDone] = useState<Done | null>(null);
  const action = useAction();
  const computed = disabledReasons(cluster, activity, props.nodes, props.forced);
  const reasons: Reasons =
    props.unknownBecause === null
      ? computed
      : {
          deploy: props.unknownBecause,
          stop: props.unknownBecause,
          force: props.unknownBecause,
          reset: props.unknownBecause,
          delete: props.unknownBecause,
        };
  const stale = done !== null && superseded(done, props.tasks, props.readAt);
  useEffect(() => {
    if (stale) setDone(null);
  }, [stale]);

  const path = `/clusters/${cluster.id}`;
  const start = (kind: Kind) => {
    setDone(null);
    action.clearError();
    setOpen(kind);
  };
  const close = () => {
    setOpen(null);
    action.clearError();
  };
  /** Sends the action; on success closes the dialog and says what it answered; reads again in any case. */
  const act = async (call: () => Promise<TaskJson>, said: (t: TaskJson) => string, refresh = true) => {
    let answeredAt = 0;
    const result = await action.run(
      async () => {
        const task = await call();
        answeredAt = Date.now();
        return task;
      },
      refresh ? props.onChanged : undefined,
    );
    if (!result.ok) return null;
    const task = result.value;
    setDone({ text: said(task), at: answeredAt, taskId: task.id, status: task.status });
    setOpen(null);
    return task;
  };
  const deploying = activity.deploy;

  return (
    <div class="actions">
      {(Object.keys(SPECS) as Kind[]).map((kind) => (
        <Action
          key={kind}
          name={NAMES[kind]}
          label={SPECS[kind].label}
          kind={SPECS[kind].kind}
          hint={SPECS[kind].hint}
          disabledBecause={reasons[kind]}
          onClick={() => start(kind)}
        />
      ))}
      {/* a live region that is always there: what an action answered is announced when it appears */}
      <span role="status" class="done-region">
        {done && !stale && (
          <span class="done" data-testid="action-done">
            {clock(done.at)}: {done.text}
            <button type="button" class="link" aria-label="Dismiss" onClick={() => setDone(null)}>
              ×
            </button>
          </span>
        )}
      </span>
      {open === null && <ErrorLine error={action.error} onClose={action.clearError} />}

      {open === 'deploy' && (
        <DeployDialog
          clusterId={cluster.id}
          blockedBecause={reasons.deploy}
          busy={action.busy}
          error={action.error}
          onCancel={close}
          onConfirm={(resume) =>
            act(
              () => api.put<TaskJson>(withQuery(`${path}/changes/`, { resume: resume ? 1 : undefined }), {}),
              (t) => `${resume ? 'deployment (resume)' : 'deployment'} started as task ${t.id}.`,
            )
          }
        />
      )}
      {open === 'stop' && (
        <StopDialog
          blockedBecause={reasons.stop}
          busy={action.busy}
          error={action.error}
          onCancel={close}
          onConfirm={(reason) =>
            act(
              () => api.put<TaskJson>(`${path}/stop_deployment/`, reason === '' ? {} : { message: reason }),
              (t) => `stop requested (task ${t.id}).`,
            )
          }
        />
      )}
      {open === 'force' && (
        <Dialog
          title="Force stop"
          kind="danger"
          confirmLabel="Force stop"
          busy={action.busy}
          confirmDisabledBecause={reasons.force}
          onCancel={close}
          onConfirm={async () => {
            await act(
              () => api.put<TaskJson>(withQuery(`${path}/stop_deployment/`, { force: 1 }), {}),
              (t) => `forced stop requested (task ${t.id}).`,
            );
          }}
        >
          <p>
            The tasks that run now {deploying ? `in ${deploymentLabel(deploying).toLowerCase()} ` : ''}are
            cancelled on their nodes (which end in error), and no new task starts.
          </p>
          <ErrorLine error={action.error} />
        </Dialog>
      )}
      {open === 'reset' && (
        <Dialog
          title="Reset the environment"
          kind="danger"
          confirmLabel="Reset"
          busy={action.busy}
          confirmDisabledBecause={reasons.reset}
          onCancel={close}
          onConfirm={() =>
            act(
              () => api.put<TaskJson>(`${path}/reset/`, {}),
              (t) => `reset as task ${t.id}.`,
            )
          }
        >
          <p>
            Every node of <strong>{cluster.name}</strong> returns to the discovered nodes and will be
            provisioned again. The history is kept.
          </p>
          <ErrorLine error={action.error} />
        </Dialog>
      )}
      {open === 'delete' && (
        <Dialog
          title="Delete the environment"
          kind="danger"
          confirmLabel="Delete"
          busy={action.busy}
          confirmDisabledBecause={reasons.delete}
          onCancel={close}
          onConfirm={async () => {
            // the environment is gone once it answers: no reading of it, and the list says what happened
            const task = await act(
              () => api.delete<TaskJson>(`${path}/`),
              (t) => `deleted (task ${t.id}).`,
              false,
            );
            if (task === null) return;
            notice.set({
              at: Date.now(),
              clusterId: cluster.id,
              text: task.message ?? `Environment ${cluster.name} was deleted.`,
            });
            location.hash = '#/';
          }}
        >
          <p>
            <strong>{cluster.name}</strong> is deleted; its nodes return to the discovered nodes.
          </p>
          <ErrorLine error={action.error} />
        </Dialog>
      )}
    </div>
  );
}

/** Deploy changes: the preview first (again with Resume); Deploy only once it has answered. */
function DeployDialog(props: {
  clusterId: number;
  blockedBecause: string | null;
  busy: boolean;
  error: Error | null;
  onCancel: () => void;
  onConfirm: (resume: boolean) => void;
}) {
  // a new dialog each time: Resume starts unchecked
  const [resume, setResume] = useState(false);
  const preview = usePreview(props.clusterId, resume, 5000);
  const why =
    props.blockedBecause ??
    (preview.error !== null
      ? 'The preview failed: what would run is unknown'
      : preview.data === undefined
        ? 'Reading what would run…'
        : null);
  return (
    <Dialog
      title="Deploy changes"
      confirmLabel={resume ? 'Deploy (resume)' : 'Deploy'}
      busy={props.busy}
      confirmDisabledBecause={why}
      onCancel={props.onCancel}
      onConfirm={() => props.onConfirm(resume)}
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
      <Preview preview={preview} />
      <ErrorLine error={props.error} />
    </Dialog>
  );
}

/** Stop deployment: an optional reason, kept with the stop. */
function StopDialog(props: {
  blockedBecause: string | null;
  busy: boolean;
  error: Error | null;
  onCancel: () => void;
  onConfirm: (reason: string) => void;
}) {
  const [reason, setReason] = useState('');
  return (
    <Dialog
      title="Stop deployment"
      confirmLabel="Stop deployment"
      busy={props.busy}
      confirmDisabledBecause={props.blockedBecause}
      onCancel={props.onCancel}
      onConfirm={() => props.onConfirm(reason.trim())}
    >
      <p>No new task starts; the tasks that run now finish. The nodes keep what they reached.</p>
      <label>
        Reason (optional, kept with the stop)
        <textarea name="reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </label>
      <ErrorLine error={props.error} />
    </Dialog>
  );
}
