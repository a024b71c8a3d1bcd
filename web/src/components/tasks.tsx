/** Every task of the environment, newest first, a page at a time (the API's `limit` and `X-Next-Marker`). */
import { useState } from 'preact/hooks';
import type { TaskJson } from '../../../lambdas/api/wire.js';
import { request, withQuery } from '../api.js';
import { useLive } from '../poll.js';
import { TaskTable } from './dashboard.js';
import { LiveView, MarkerPager } from './ui.js';

const PAGE = 20;

export function TasksTab({ clusterId }: { clusterId: number }) {
  // the markers of the pages seen so far: the first page has none
  const [markers, setMarkers] = useState<(string | undefined)[]>([undefined]);
  const marker = markers[markers.length - 1];
  const page = useLive(
    (signal) =>
      request<TaskJson[]>(
        'GET',
        withQuery('/transactions/', { cluster_id: clusterId, limit: PAGE, order_by: '-id', marker }),
        undefined,
        { signal },
      ),
    3000,
    [clusterId, marker],
  );
  return (
    <section class="card">
      <h3>Tasks</h3>
      <LiveView live={page} what="the tasks">
        {(data) => <TaskTable tasks={data.body} />}
      </LiveView>
      <MarkerPager markers={markers} next={page.data?.next} onMarkers={setMarkers} back="Newer" on="Older" />
    </section>
  );
}
