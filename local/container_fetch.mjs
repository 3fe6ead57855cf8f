// getTcpPort(port).fetch for a local container: node:http rather than the global fetch, because
// Node's fetch adds headers (sec-fetch-mode, user-agent: node, accept-language) and decompresses
// bodies, which workerd's fetch does not: the container must see exactly what the Durable Object sent.
import http from 'node:http';
import { nodeToWebStream, pipeWebToNode } from './streams.mjs';
import { reportUncaught } from './uncaught.mjs';

/** Headers that describe one connection, not the message: never relayed. */
export const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer',
]);
const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

/** Normalise any fetch body into bytes (replayable), a ReadableStream, or null. */
function prepareBody(body, headers) {
  if (body === null || body === undefined) return { kind: 'none' };
  if (typeof body === 'string') return { kind: 'bytes', bytes: Buffer.from(body, 'utf8') };
  if (body instanceof ArrayBuffer) return { kind: 'bytes', bytes: new Uint8Array(body) };
  if (ArrayBuffer.isView(body)) return { kind: 'bytes', bytes: new Uint8Array(body.buffer, body.byteOffset, body.byteLength) };
  if (body instanceof ReadableStream) return { kind: 'stream', stream: body };
  // Blob, FormData, URLSearchParams: let the platform encode it (and pick the content-type).
  const tmp = new Response(body);
  const ct = tmp.headers.get('content-type');
  if (ct && !headers.has('content-type')) headers.set('content-type', ct);
  return { kind: 'stream', stream: tmp.body };
}

/** @param {Headers} headers @returns {number | null} */
function declaredLength(headers) {
  const value = headers.get('content-length');
  return value !== null && /^\d+$/.test(value) ? Number(value) : null;
}

/**
 * Send a stream body as workerd's fetch does. An error from the body stream does NOT abort the
 * upload: workerd ends it as if complete (a chunked upload gets its final chunk, truncated) and the
 * upstream answers; only the fetch's AbortSignal cuts the connection without the final chunk. A
 * declared Content-Length that was not reached cannot end cleanly, so that connection is closed.
 * workerd also logs the body's error as `Uncaught (in promise)`, aborted fetch or not (probed).
 * @param {ReadableStream} stream @param {http.ClientRequest} req @param {number | null} declared
 */
async function upload(stream, req, declared) {
  try {
    const onSourceError = (err) => reportUncaught(err, 'Uncaught (in promise)');
    const written = await pipeWebToNode(stream, req, { end: false, onSourceError });
    if (declared !== null && written < declared) req.destroy(new Error('request body shorter than its Content-Length'));
    else req.end();
  } catch {
    // failures surface through req 'error'
  }
}

function toNodeHeaders(headers) {
  /** @type {Record<string, string | string[]>} */
  const out = {};
  for (const [k, v] of headers) {
    if (HOP_BY_HOP.has(k) || k === 'set-cookie') continue;
    out[k] = v;
  }
  const cookies = headers.getSetCookie();
  if (cookies.length) out['set-cookie'] = cookies;
  return out;
}

function abortReason(signal) {
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

/**
 * One HTTP exchange with 127.0.0.1:hostPort, streaming both ways.
 * @param {{ hostPort: number, agent: http.Agent, input: string | URL | Request, init?: any, label: string }} opts
 * @returns {Promise<Response>}
 */
export async function containerFetch({ hostPort, agent, input, init, label }) {
  init = init ?? {};
  const request = input instanceof Request ? input : null;
  // Parsed as workerd parses a fetch URL (WHATWG: dot segments resolved, `\` read as `/`).
  const url = new URL(request ? request.url : String(input));
  if (url.protocol !== 'http:') throw new TypeError(`container fetch: only http URLs reach a container, got ${url.protocol}`);
  const host = url.host;
  const path = `${url.pathname}${url.search}`;
  const method = (init.method ?? request?.method ?? 'GET').toUpperCase();
  const headers = new Headers(init.headers ?? request?.headers ?? undefined);
  const body = prepareBody('body' in init ? init.body : request ? request.body : null, headers);
  const signal = init.signal ?? request?.signal ?? null;
  // The URL decides the Host, as in workerd: a forwarded client request carries the gateway's Host.
  headers.set('host', host);
  if (body.kind === 'bytes' && !headers.has('content-length')) headers.set('content-length', String(body.bytes.byteLength));
  const nodeHeaders = toNodeHeaders(headers);
  if (signal?.aborted) throw abortReason(signal);

  const attempt = (mayRetry) =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: hostPort, method, path, headers: nodeHeaders, agent });
      let responded = false;
      const onAbort = () => req.destroy(abortReason(signal));
      signal?.addEventListener('abort', onAbort, { once: true });
      const cleanup = () => signal?.removeEventListener('abort', onAbort);

      req.once('error', (err) => {
        if (responded) return; // the body stream reports it
        cleanup();
        if (signal?.aborted) return reject(abortReason(signal));
        // A keep-alive socket the server closed while idle: safe to replay a body we still hold.
        if (mayRetry && req.reusedSocket && err.code === 'ECONNRESET') return resolve(attempt(false));
        reject(new Error(`container ${label}: connection failed (${err.code ?? err.message})`, { cause: err }));
      });

      req.once('response', (res) => {
        responded = true;
        res.once('close', cleanup);
        const status = res.statusCode ?? 502;
        const respHeaders = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          const name = res.rawHeaders[i].toLowerCase();
          if (HOP_BY_HOP.has(name)) continue;
          try {
            respHeaders.append(name, res.rawHeaders[i + 1]);
          } catch {
            // a header value the WHATWG Headers rejects: drop it rather than fail the response
          }
        }
        let respBody = null;
        if (method === 'HEAD' || NULL_BODY_STATUS.has(status)) res.resume();
        else
          respBody = nodeToWebStream(res, {
            isComplete: () => res.complete,
            onCancel: () => req.destroy(),
            label: `response body from container ${label}`,
          });
        let statusText = res.statusMessage ?? '';
        if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(statusText)) statusText = '';
        if (status < 200 || status > 599) {
          req.destroy();
          return reject(new Error(`container ${label}: unsupported status ${status}`));
        }
        resolve(new Response(respBody, { status, statusText, headers: respHeaders }));
      });

      if (body.kind === 'none') req.end();
      else if (body.kind === 'bytes') req.end(body.bytes);
      else upload(body.stream, req, declaredLength(headers));
    });

  return attempt(body.kind !== 'stream');
}
