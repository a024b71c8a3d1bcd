/**
 * The use cases behind the Nailgun API, bound to one context: what the routes call. Each lives in the folder
 * of what it is about: inventory/ (clusters, nodes, graph and attributes), deployments/, stop/, tasks/.
 */

import type { PageRequest } from '../domain/page.js';
import { type DeployRequest, deployChanges } from './deployments/deploy.js';
import { resetCluster } from './deployments/reset.js';
import { discoverNodes } from './engine/discovery.js';
import { createCluster, deleteCluster, getCluster, renameCluster } from './inventory/clusters.js';
import { getAttributes, getGraph, putAttributes, putGraph } from './inventory/config.js';
import { assignNodes, getNode, listNodes, unassignNodes } from './inventory/nodes.js';
import type { Context } from './ports.js';
import { type StopInput, stopDeployment } from './stop/request.js';
import { type HistoryFilter, history, historyPage } from './tasks/history.js';
import { deleteTask, getTask, listTasks, listTasksPage, type TaskFilter } from './tasks/tasks.js';

export function createService(ctx: Context) {
  return {
    cluster: (id: number) => getCluster(ctx, id),
    listClusters: () => ctx.repos.clusters.list(),
    createCluster: (input: { name: string; releaseId: number }) => createCluster(ctx, input),
    renameCluster: (id: number, name: string) => renameCluster(ctx, id, name),
    deleteCluster: (id: number) => deleteCluster(ctx, id),
    node: (id: number) => getNode(ctx, id),
    listNodes: (clusterId?: number | null) => listNodes(ctx, clusterId),
    assignNodes: (clusterId: number, items: { id: number; roles: string[] }[]) =>
      assignNodes(ctx, clusterId, items),
    unassignNodes: (clusterId: number, ids: number[]) => unassignNodes(ctx, clusterId, ids),
    getGraph: (clusterId: number) => getGraph(ctx, clusterId),
    putGraph: (clusterId: number, input: unknown) => putGraph(ctx, clusterId, input),
    getAttributes: (clusterId: number) => getAttributes(ctx, clusterId),
    putAttributes: (clusterId: number, edit: Record<string, unknown>) => putAttributes(ctx, clusterId, edit),
    deployChanges: (clusterId: number, request?: DeployRequest) => deployChanges(ctx, clusterId, request),
    resetCluster: (clusterId: number) => resetCluster(ctx, clusterId),
    /** "Stop deployment" by an operator. */
    stopDeployment: (clusterId: number, input: Omit<StopInput, 'cause'>) =>
      stopDeployment(ctx, clusterId, { ...input, cause: 'operator' }),
    task: (id: number) => getTask(ctx, id),
    listTasks: (filter: TaskFilter) => listTasks(ctx, filter),
    listTasksPage: (filter: TaskFilter, request: PageRequest) => listTasksPage(ctx, filter, request),
    history: (taskId: number, filter: HistoryFilter) => history(ctx, taskId, filter),
    historyPage: (taskId: number, filter: HistoryFilter, request: PageRequest) =>
      historyPage(ctx, taskId, filter, request),
    deleteTask: (id: number, input: { force: boolean; requestedBy: string }) => deleteTask(ctx, id, input),
    discoverNodes: () => discoverNodes(ctx),
    consoleUrl: (arn: string) => ctx.workflows.consoleUrl(arn),
  };
}

export type Service = ReturnType<typeof createService>;
