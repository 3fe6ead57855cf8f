// The front door: node:http <-> WHATWG Request/Response, streaming both ways with no buffering, so
// SSE chunks reach the client as the worker produces them.
import http from 'node:http';
import { ClientBody, nodeToWebStream, pipeWebToNode } from './streams.mjs';
import { HOP_BY_HOP } from './container_fetch.mjs';

const INTERNAL_ERROR_BODY = JSON.stringify({
  error: { message: 'local runtime error', type: 'server_error', code: 'internal_error' },
});
const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

// Cloudflare's documented request limits (developers.cloudflare.com/workers/platform/limits): URLs up
// to 16 KB, request headers up to 128 KB in total. Node's own parser keeps at most 1000 header fields
// and silently drops the rest (Content-Length included, while it still frames the body by it): rather
// than hand the worker a message that disagrees with the wire, more fields than that are refused.
export const MAX_URL_BYTES = 16 * 1024;
export const MAX_HEADER_BYTES = 128 * 1024;
export const MAX_HEADER_FIELDS = 1000;
/** How long an unread upload may keep draining after the response went out (then the socket closes). */
const DRAIN_AFTER_RESPONSE_MS = 10_000;

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

/** A Host a URL may be built from: a DNS name or IPv4, or a bracketed IPv6, and an optional port. */
const VALID_HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * Why a request must be refused before the worker sees it, as [status, message], or null.
 * @param {import('node:http').IncomingMessage} req
 */
function refusal(req) {
  if (Buffer.byteLength(req.url ?? '') > MAX_URL_BYTES) return [414, 'URI too long'];
  const raw = req.rawHeaders;
  if (raw.length / 2 > MAX_HEADER_FIELDS) return [431, 'too many request header fields'];
  let bytes = 0;
  for (const field of raw) bytes += Buffer.byteLength(field) + 2; // ": " or CRLF
  if (bytes > MAX_HEADER_BYTES) return [431, 'request headers too large'];
  return null;
}

/** The socket peer as an address string, IPv4-mapped IPv6 shown as IPv4 (as Cloudflare's edge does). */
function peerAddress(req) {
  const addr = req.socket.remoteAddress ?? '';
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}

/**
 * The WHATWG Request the worker sees. Its URL is built from a validated Host (else the address we
 * listen on) and the raw request-target, then parsed like workerd does (dot segments resolved): the
 * path the worker judges is the path any Request it derives will carry. Returns null when the target
 * or the Host cannot make such a URL.
 */
function toWebRequest(req, { host, port, signal, clientBody }) {
  const rawPath = req.url ?? '/';
  // Absolute-form or `*` targets are proxy/OPTIONS forms a gateway has no use for.
  if (!rawPath.startsWith('/')) return null;
  const hostHeader = req.headers.host;
  if (hostHeader !== undefined && !VALID_HOST.test(hostHeader)) return null;
  const authority = hostHeader || (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
  const skip = hopByHop(req.headers.connection);
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    if (!skip.has(name) && name !== 'cf-connecting-ip') headers.append(name, req.rawHeaders[i + 1]);
  }
  // Like Cloudflare's edge: the caller's address from the connection, never from the client.
  headers.set('cf-connecting-ip', peerAddress(req));
  const method = req.method ?? 'GET';
  // HTTP/1.1: a request has a body only if it says so (content-length > 0 or transfer-encoding).
  const hasBody =
    method !== 'GET' &&
    method !== 'HEAD' &&
    (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0);
  const request = new Request(`http://${authority}${rawPath}`, {
    method,
    headers,
    body: hasBody ? nodeToWebStream(req, { isComplete: () => req.complete, label: 'request body', drainOnCancel: true, clientBody }) : null,
    duplex: 'half',
    signal,
  });
  if (!hasBody) req.resume();
  return request;
}

/**
 * Once the response is out, an upload nobody read (a 413 judged from Content-Length) is read and
 * discarded, so a client that sends its whole body before reading gets the answer at once instead of
 * stalling on a paused socket; a client that keeps sending past the bound is cut off.
 */
function drainUnreadUpload(req) {
  if (req.complete || req.destroyed) return;
  req.removeAllListeners('data');
  req.resume();
  const timer = setTimeout(() => req.socket.destroy(), DRAIN_AFTER_RESPONSE_MS);
  timer.unref();
  req.once('close', () => clearTimeout(timer));
}

function errorBody(message, code) {
  return JSON.stringify({ error: { message, type: 'invalid_request_error', code } });
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
 *   control?: { handle(req: Request): Promise<Response | null> },
 *   assets?: { route(req: Request): Promise<Response | null> },
 *   memory?: { requestStarted(): void, requestEnded(): void } }} opts
 *   assets: Workers Static Assets (assets.mjs), asked before the worker as workerd's router does; null: the worker
 *   memory: told as each request begins and once it is over (memory.mjs)
 * @returns {Promise<{ server: http.Server, port: number, close(): Promise<void> }>}
 */
export async function startHttpServer({ host = '127.0.0.1', port = 0, handler, log = () => {}, control, assets, memory }) {
  let boundPort = port;
  // No silent header dropping (maxHeadersCount 0); refusal() applies the limits. maxHeaderSize only
  // bounds what the parser buffers, above the limit we answer 431 for.
  const server = http.createServer({ maxHeaderSize: 2 * MAX_HEADER_BYTES }, async (req, res) => {
    memory?.requestStarted();
    const started = performance.now();
    const ac = new AbortController();
    const clientBody = new ClientBody();
    const rawPath = req.url ?? '/';
    const q = rawPath.indexOf('?');
    const logPath = q >= 0 ? rawPath.slice(0, q) : rawPath; // the query may carry secrets: not logged
    let requestId = null;
    res.once('close', () => {
      const aborted = !res.writableFinished;
      if (aborted) ac.abort(new DOMException('client disconnected', 'AbortError'));
      else clientBody.responseSent();
      memory?.requestEnded();
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

    res.once('finish', () => drainUnreadUpload(req));
    const refused = refusal(req);
    if (refused) {
      const [status, message] = refused;
      res.setHeader('connection', 'close');
      sendJson(res, status, errorBody(message, status === 414 ? 'uri_too_long' : 'headers_too_large'));
      return;
    }
    let request;
    try {
      request = toWebRequest(req, { host, port: boundPort, signal: ac.signal, clientBody });
    } catch {
      request = null;
    }
    if (!request) {
      sendJson(res, 400, errorBody('bad request', 'bad_request'));
      return;
    }

    let response;
    try {
      const remoteAddress = req.socket.remoteAddress;
      if (control && isLoopback(remoteAddress)) response = await control.handle(request);
      if (!response && assets) response = await assets.route(request);
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
  server.maxHeadersCount = 0;
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
