/**
 * The routes the stop function serves, apart from the API function: "Stop deployment" and deleting a task
 * (which forces the stop of a running one). API Gateway sends these to the stop function (infra/stack.ts),
 * the embedded runtime does the same (local/runtime.ts); the API function serves them too, for a request
 * API Gateway routes to it (a path it does not match to these routes).
 */
import { matchPath, normalize } from './router.js';

export const STOP_ROUTES = [
  { method: 'PUT', path: '/clusters/:id/stop_deployment' },
  { method: 'DELETE', path: '/tasks/:id' },
  { method: 'DELETE', path: '/transactions/:id' },
] as const;

/** Does this request go to the stop function? */
export function isStopRequest(method: string, rawPath: string): boolean {
  const path = normalize(rawPath);
  if (path === null || path.startsWith('/keystone')) return false;
  return STOP_ROUTES.some((r) => r.method === method.toUpperCase() && matchPath(r.path, path) !== null);
}

/** The API Gateway route keys of the stop routes, under both prefixes (`{id}` for `:id`). */
export function stopRouteKeys(): { method: 'PUT' | 'DELETE'; path: string }[] {
  return STOP_ROUTES.flatMap((r) =>
    ['/api', '/api/v1'].map((prefix) => ({
      method: r.method,
      path: `${prefix}${r.path.replace(/:(\w+)/g, '{$1}')}`,
    })),
  );
}
