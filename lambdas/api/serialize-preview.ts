/** The restart preview in the shape of `GET /clusters/{id}/changes/preview/` (wire.ts `DeploymentPreviewJson`). */
import type { DeploymentPreview } from '../app/deployments/preview.js';
import { targetJson } from '../domain/targets.js';
import { HttpError } from './http.js';
import type { DeploymentPreviewJson, PreviewNodeJson } from './wire.js';

export function previewJson(p: DeploymentPreview): DeploymentPreviewJson {
  const summary = { run: 0, skip: 0, provision: 0 };
  const nodes = p.nodes.map((n): PreviewNodeJson => {
    if (n.provision.provision) summary.provision++;
    const target = targetJson(n.target);
    return {
      node_id: target === null ? null : String(target),
      name: n.name,
      provision: n.provision.provision,
      provision_reason: n.provision.reason,
      tasks: n.tasks.map(({ task, layer, decision }) => {
        summary[decision.action]++;
        return {
          task_name: task,
          layer,
          action: decision.action,
          reason: decision.reason,
          skip_reason: decision.action === 'skip' ? decision.kind : null,
        };
      }),
    };
  });
  return { cluster: p.clusterId, resume: p.resume, nodes, layers: p.layers, summary };
}

/**
 * The largest preview one reply carries: a Lambda function's reply holds at most 6 MB (API Gateway's 10 MB
 * is not reached). The reference graph on 1,000 nodes gives about 2.2 MB.
 */
export const MAX_PREVIEW_BYTES = 5 * 1024 * 1024;

/** A preview too large for one reply is a 400 that says how to ask for less: some nodes at a time. */
export function previewTooLarge(bytes: number, nodes: number): HttpError | null {
  if (bytes <= MAX_PREVIEW_BYTES) return null;
  const mb = (n: number) => (n / (1024 * 1024)).toFixed(1);
  const message =
    `The preview lists ${nodes} nodes in ${mb(bytes)} MB, more than one reply holds (${mb(MAX_PREVIEW_BYTES)} MB): ` +
    'ask for some nodes at a time with ?nodes=1,2,...';
  return new HttpError(400, message, [{ field: 'nodes', message }]);
}
