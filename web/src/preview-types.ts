/** The restart preview's reply (`GET /clusters/{id}/changes/preview/`). */
export interface PreviewTaskJson {
  task_name: string;
  layer: number;
  action: 'run' | 'skip';
  reason: string;
}

export interface PreviewNodeJson {
  node_id: string | null;
  name: string;
  provision: boolean;
  provision_reason: string | null;
  tasks: PreviewTaskJson[];
}

export interface PreviewJson {
  cluster: number;
  resume: boolean;
  layers: number;
  nodes: PreviewNodeJson[];
  summary: { run: number; skip: number };
}
