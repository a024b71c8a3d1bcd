/**
 * The use cases behind the Nailgun API, bound to one context: what the routes call. Each lives in the folder
 * of what it is about: inventory/ (clusters, nodes, graph and attributes), deployments/, stop/, tasks/.
 */

import type { DotQuery, SubgraphQuery } from '../domain/graph-view.js';
import type { Node } from '../domain/model.js';
import type { PageRequest } from '../domain/page.js';
import type { Task } from '../domain/task.js';
import { type DeployRequest, deployChanges, deployTasks } from './deployments/deploy.js';
import { type PreviewRequest, previewChanges } from './deployments/preview.js';
import { resetCluster } from './deployments/reset.js';
import { discoverNodes } from './engine/discovery.js';
import { nodesWithProgress, tasksWithProgress } from './engine/progress.js';
import { createCluster, deleteCluster, getCluster, renameCluster } from './inventory/clusters.js';
import { getAttributes, getGraph, putAttributes, putGraph } from './inventory/config.js';
import {
  deleteGraphOfType,
  getGraphOfType,
  graphDot,
  graphPart,
  listAllGraphs,
  listGraphs,
  putGraphOfType,
} from './inventory/graphs.js';
import { deleteNodes, type NodeEdit, updateNode } from './inventory/node-edits.js';
import { assignNodes, getNode, listNodes, unassignNodes } from './inventory/nodes.js';
import { clusterRoles, getRelease, listReleases, releaseRoles } from './inventory/releases.js';
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
    // a node or a task of a running deployment shows how far it got (engine/progress.ts)
    node: async (id: number) => (await nodesWithProgress(ctx, [await getNode(ctx, id)]))[0] as Node,
    listNodes: async (clusterId?: number | null) => nodesWithProgress(ctx, await listNodes(ctx, clusterId)),
    assignNodes: (clusterId: number, items: { id: number; roles: string[] }[]) =>
      assignNodes(ctx, clusterId, items),
    unassignNodes: (clusterId: number, ids: number[]) => unassignNodes(ctx, clusterId, ids),
    getGraph: (clusterId: number) => getGraph(ctx, clusterId),
    /** The default graph or one of another type, whole or (start / end) in part. */
    graphPart: (clusterId: number, type: string, query: SubgraphQuery) =>
      graphPart(ctx, clusterId, type, query),
    graphDot: (clusterId: number, type: string, query: DotQuery) => graphDot(ctx, clusterId, type, query),
    listGraphs: (clusterId: number) => listGraphs(ctx, clusterId),
    listAllGraphs: (filter: { clusterIds?: number[]; types?: string[] }) => listAllGraphs(ctx, filter),
    getGraphOfType: (clusterId: number, type: string) => getGraphOfType(ctx, clusterId, type),
    putGraphOfType: (
      clusterId: number,
      type: string,
      body: { name?: string | null; tasks?: unknown },
      expect: 'new' | 'existing' | 'any',
    ) => putGraphOfType(ctx, clusterId, type, body, expect),
    deleteGraphOfType: (clusterId: number, type: string) => deleteGraphOfType(ctx, clusterId, type),
    listReleases: () => listReleases(),
    release: (id: number) => getRelease(id),
    releaseRoles: (id: number) => releaseRoles(id),
    clusterRoles: (clusterId: number) => clusterRoles(ctx, clusterId),
    updateNode: (id: number, edit: NodeEdit) => updateNode(ctx, id, edit),
    deleteNodes: (ids: number[]) => deleteNodes(ctx, ids),
    putGraph: (clusterId: number, input: unknown) => putGraph(ctx, clusterId, input),
    getAttributes: (clusterId: number) => getAttributes(ctx, clusterId),
    putAttributes: (clusterId: number, edit: Record<string, unknown>) => putAttributes(ctx, clusterId, edit),
    deployChanges: (clusterId: number, request?: DeployRequest) => deployChanges(ctx, clusterId, request),
    deployTasks: (clusterId: number, nodes: number[], tasks: string[], graphType?: string) =>
      deployTasks(ctx, clusterId, nodes, tasks, graphType),
    /** What deployChanges would run now, decided as it decides (nothing written). */
    previewChanges: (clusterId: number, request: PreviewRequest) => previewChanges(ctx, clusterId, request),
    resetCluster: (clusterId: number) => resetCluster(ctx, clusterId),
    /** "Stop deployment" by an operator. */
    stopDeployment: (clusterId: number, input: Omit<StopInput, 'cause'>) =>
      stopDeployment(ctx, clusterId, { ...input, cause: 'operator' }),
    task: async (id: number) => (await tasksWithProgress(ctx, [await getTask(ctx, id)]))[0] as Task,
    listTasks: async (filter: TaskFilter) => tasksWithProgress(ctx, await listTasks(ctx, filter)),
    listTasksPage: async (filter: TaskFilter, request: PageRequest) => {
      const page = await listTasksPage(ctx, filter, request);
      return { ...page, items: await tasksWithProgress(ctx, page.items) };
    },
    history: (taskId: number, filter: HistoryFilter) => history(ctx, taskId, filter),
    historyPage: (taskId: number, filter: HistoryFilter, request: PageRequest) =>
      historyPage(ctx, taskId, filter, request),
    deleteTask: (id: number, input: { force: boolean; requestedBy: string }) => deleteTask(ctx, id, input),
    discoverNodes: () => discoverNodes(ctx),
    consoleUrl: (arn: string) => ctx.workflows.consoleUrl(arn),
  };
}

export type Service = ReturnType<typeof createService>;
