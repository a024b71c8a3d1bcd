/**
 * Graphs by type (Nailgun 9.0's `deployment_graphs`): an environment has its `default` graph, the one
 * `deployment_tasks` reads and writes and "Deploy changes" runs (the release's built-in graph until one is
 * uploaded), and may keep graphs of other types (`provision`, `rollback`, any name). Those are kept, listed,
 * read and deleted as uploaded, and validated as the default graph is; one runs when an operator names it
 * (`PUT clusters/{id}/deploy/?graph_type=`, `fuel2 graph execute`), on provisioned nodes, every task of it.
 */
import type { GraphTask } from './graph.js';

export const DEFAULT_GRAPH_TYPE = 'default';

/** A graph type as Nailgun's URLs take it (`[a-zA-Z0-9-_]+`), at most 50 characters. */
export const GRAPH_TYPE_PATTERN = /^[A-Za-z0-9_-]{1,50}$/;

/** Graphs of types other than `default` an environment may keep. */
export const MAX_GRAPH_TYPES = 20;

/** A graph of one type, as stored. */
export interface TypedGraph {
  /** Numbered when first stored; null for the release's built-in graph and a graph stored before ids. */
  id: number | null;
  type: string;
  name: string | null;
  tasks: GraphTask[];
}

/** What a graph belongs to, as Nailgun's `relations` name it. */
export interface GraphRelation {
  model: 'cluster' | 'release';
  model_id: number;
  type: string;
}
