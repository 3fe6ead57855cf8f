// The front door: node:http <-> WHATWG Request/Response, streaming both ways with no buffering, so
// SSE chunks reach the client as the worker produces them.
import http from 'node:http';
import { nodeToWebStream, pipeWebToNode } from './streams.mjs';
import { HOP_BY_HOP } from './container_fetch.mjs';

const INTERNAL_ERROR_BODY = JSON.stringify({
  error: { message: 'local runtime error', type: 'server_error', code: 'internal_error' },
});
const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

/** @param {string | undefined} addr */
export function isLoopback(addr) {
  if (!addr) return false;
  return addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.');
}

/** Hop-by-hop names: the fixed set plus whatever the Connection header lists. */
function hopByHop(connectionHeader) {
  const names = new Set(HOP_BY_HOP);
  for (const t of String(connectionHeader ?? '').split(',')) if (t.trim()) names.add(t.trim().toLowerCase());
  return names;
}

function toWebRequest(req, { host, port, signal }) {
  const rawPath = req.url ?? '/';
  // Absolute-form or `*` targets are proxy/OPTIONS forms a gateway has no use for.
  if (!rawPath.startsWith('/')) return null;
  const authority = req.headers.host || `${host}:${port}`;
  const rawUrl = `http://${authority}${rawPath}`;
  const skip = hopByHop(req.headers.connection);
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    if (!skip.has(name)) headers.append(name, req.rawHeaders[i + 1]);
  }
  const method = req.method ?? 'GET';
  // HTTP/1.1: a request has a body only if it says so (content-length > 0 or transfer-encoding).
  const hasBody =
    method !== 'GET' &&
    method !== 'HEAD' &&
    (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0);
  const request = new Request(rawUrl, {
    method,
    headers,
    body: hasBody ? nodeToWebStream(req, { isComplete: () => req.complete, label: 'request body', drainOnCancel: true }) : null,
    duplex: 'half',
    signal,
  });
  if (!hasBody) req.resume();
  // The WHATWG parser resolves `..` and `%2e` segments; the worker must see what the client sent
  // (its allow-list rejects such tricks), so the raw URL shadows the normalised one.
  if (request.url !== rawUrl) Object.defineProperty(request, 'url', { value: rawUrl, enumerable: true, configurable: true });
  return request;
}

function sendJson(res, status, bodyText) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(bodyText) });
  res.end(bodyText);
}

async function writeWebResponse(res, response, method) {
  const skip = hopByHop(response.headers.get('connection'));
  /** @type {Record<string, string | string[]>} */
  const headers = {};
  for (const [k, v] of response.headers) {
    if (!skip.has(k) && k !== 'set-cookie') headers[k] = v;
  }
  const cookies = response.headers.getSetCookie();
  if (cookies.length) headers['set-cookie'] = cookies;
  const noBody = method === 'HEAD' || NULL_BODY_STATUS.has(response.status) || response.body === null;
  if (response.statusText) res.writeHead(response.status, response.statusText, headers);
  else res.writeHead(response.status, headers);
  if (noBody) {
    response.body?.cancel().catch(() => {});
    res.end();
    return;
  }
  // Unknown length (SSE): send the head now, so the client sees 200 before the first event.
  if (!('content-length' in headers)) res.flushHeaders();
  await pipeWebToNode(response.body, res);
}

/**
 * @param {{ host?: string, port?: number,
 *   handler: (request: Request, info: {signal: AbortSignal, remoteAddress: string | undefined}) => Promise<Response>,
 *   log?: (obj: object) => void,
 *   control?: { handle(req: Request): Promise<Response | null> } }} opts
 * @returns {Promise<{ server: http.Server, port: number, close(): Promise<void> }>}
 */
export async function startHttpServer({ host = '127.0.0.1', port = 0, handler, log = () => {}, control }) {
  let boundPort = port;
  const server = http.createServer(async (req, res) => {
    const started = performance.now();
    const ac = new AbortController();
    const rawPath = req.url ?? '/';
    const q = rawPath.indexOf('?');
    const logPath = q >= 0 ? rawPath.slice(0, q) : rawPath; // the query may carry secrets: not logged
    let requestId = null;
    res.once('close', () => {
      const aborted = !res.writableFinished;
      if (aborted) ac.abort(new DOMException('client disconnected', 'AbortError'));
      const line = {
        method: req.method,
        path: logPath,
        status: res.statusCode,
        ms: Math.round((performance.now() - started) * 10) / 10,
        request_id: requestId,
      };
      if (aborted) line.aborted = true;
      log(line);
    });

    let request;
    try {
      request = toWebRequest(req, { host, port: boundPort, signal: ac.signal });
    } catch {
      request = null;
    }
    if (!request) {
      sendJson(res, 400, JSON.stringify({ error: { message: 'bad request', type: 'invalid_request_error', code: 'bad_request' } }));
      return;
    }

    let response;
    try {
      const remoteAddress = req.socket.remoteAddress;
      if (control && isLoopback(remoteAddress)) response = await control.handle(request);
      if (!response) response = await handler(request, { signal: ac.signal, remoteAddress });
      if (!response || typeof response.status !== 'number') throw new TypeError('handler did not return a Response');
    } catch (err) {
      if (!ac.signal.aborted) log({ level: 'error', msg: 'handler failed', error: String(err?.message ?? err) });
      sendJson(res, 500, INTERNAL_ERROR_BODY);
      return;
    }
    requestId = response.headers.get('x-request-id');
    try {
      await writeWebResponse(res, response, req.method);
    } catch (err) {
      // Body failed mid-stream (upstream died) or the client left: the message is already broken.
      if (!ac.signal.aborted) log({ level: 'error', msg: 'response body failed', error: String(err?.message ?? err) });
      if (!res.headersSent) sendJson(res, 500, INTERNAL_ERROR_BODY);
      else res.destroy();
    }
  });
  server.on('connection', (socket) => socket.setNoDelay(true));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(undefined);
    });
  });
  boundPort = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
  return {
    server,
    port: boundPort,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // keep-alive and streaming sockets would hold close() open
      }),
  };
}
