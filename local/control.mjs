// The local-only control API (/__local/...): lets tests and humans see and crash containers, and see what
// workerd would make visible only in a deployment: memory, storage left behind, uncaught errors.
// http_server.mjs only consults it for loopback clients.

/** @param {number} status @param {any} body */
function json(status, body) {
  return new Response(JSON.stringify(body, null, 2), {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  });
}

function error(status, message, code) {
  return json(status, { error: { message, type: 'invalid_request_error', code } });
}

/**
 * @param {{ listContainers: () => any[], killContainer: (id: string, signal?: string) => boolean,
 *   listInstances: () => any[],
 *   memory?: { report(): object, baseline(): Promise<object> },
 *   storageSummary?: () => object, callSummary?: () => object, uncaughtSummary?: () => object }} deps
 *   memory (memory.mjs), storageSummary and callSummary (durable_objects.mjs), uncaughtSummary (uncaught.mjs): each
 *   endpoint is served when its source is given.
 * @returns {{ handle(req: Request): Promise<Response | null> }}
 */
export function createControl({ listContainers, killContainer, listInstances, memory, storageSummary, callSummary,
  uncaughtSummary }) {
  /** path -> method -> what it answers */
  const routes = new Map([
    ['/__local/containers', { GET: listContainers }],
    ['/__local/instances', { GET: listInstances }],
    ['/__local/memory', memory && { GET: () => memory.report() }],
    ['/__local/memory/baseline', memory && { POST: () => memory.baseline() }],
    ['/__local/storage', storageSummary && { GET: storageSummary }],
    ['/__local/calls', callSummary && { GET: callSummary }],
    ['/__local/uncaught', uncaughtSummary && { GET: uncaughtSummary }],
  ].filter(([, methods]) => methods));
  return {
    async handle(req) {
      const { pathname } = new URL(req.url);
      if (pathname !== '/__local' && !pathname.startsWith('/__local/')) return null;
      const method = req.method;
      const route = routes.get(pathname);
      if (route) {
        return Object.hasOwn(route, method) ? json(200, await route[method]()) : error(405, 'method not allowed', 'method_not_allowed');
      }
      const m = /^\/__local\/containers\/([^/]+)\/kill$/.exec(pathname);
      if (m) {
        if (method !== 'POST') return error(405, 'method not allowed', 'method_not_allowed');
        let id;
        try {
          id = decodeURIComponent(m[1]);
        } catch {
          return error(400, 'bad container id', 'bad_request');
        }
        const found = listContainers().find((c) => c.id === id);
        if (!found) return error(404, `no container ${id}`, 'not_found');
        if (!found.running) return error(409, `container ${id} is not running`, 'not_running');
        const killed = killContainer(id, 'SIGKILL');
        return killed ? json(200, { killed: id, signal: 'SIGKILL' }) : error(409, `container ${id} is not running`, 'not_running');
      }
      return error(404, 'unknown control endpoint', 'not_found');
    },
  };
}

/**
 * One loopback-only handler out of several (each answers its own paths, null for the rest).
 * @param {(false | undefined | null | { handle(req: Request): Promise<Response | null> })[]} handlers
 * @returns {{ handle(req: Request): Promise<Response | null> } | undefined} undefined when none is on
 */
export function chainHandlers(handlers) {
  const on = handlers.filter((h) => h);
  if (on.length === 0) return undefined;
  return {
    async handle(req) {
      for (const h of on) {
        const response = await h.handle(req);
        if (response) return response;
      }
      return null;
    },
  };
}
