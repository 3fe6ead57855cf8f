// Bridges between node streams and WHATWG streams, shared by http_server.mjs and containers.mjs.
// Written by hand rather than Readable.toWeb/fromWeb so that (1) a connection that closes before the
// body is complete ERRORS the web stream instead of ending it cleanly (a truncated SSE stream must
// not look like a finished one), and (2) cancel/abort reach the socket immediately.

/** Bytes buffered in a web stream before the node side is paused. Small: we relay, not store. */
const HIGH_WATER_BYTES = 64 * 1024;

/** Each chunk of a client's request body -> its ClientBody (weakly: a chunk read and dropped is gone). */
const chunkOwners = new WeakMap();

/**
 * A client's request body as the HTTP server hands it to the worker. Its chunks are tagged, so a body that
 * reaches a Durable Object through any identity pipe (`new Request(request)` makes one) can be traced back to
 * it, and what must happen once the response to that request has been sent can be registered here.
 */
export class ClientBody {
  constructor() {
    this._sent = false;
    /** @type {(() => void)[]} */
    this._afterResponse = [];
  }

  /** @param {() => void} fn runs once the response has been sent (now, if it has been) */
  afterResponse(fn) {
    if (this._sent) fn();
    else this._afterResponse.push(fn);
  }

  responseSent() {
    this._sent = true;
    for (const fn of this._afterResponse.splice(0)) fn();
  }
}

/** @param {unknown} chunk @returns {ClientBody | undefined} the client body a chunk was read from */
export function clientBodyOf(chunk) {
  return typeof chunk === 'object' && chunk !== null ? chunkOwners.get(chunk) : undefined;
}

/**
 * Wrap a node Readable (IncomingMessage) as a byte ReadableStream, chunk by chunk, with backpressure.
 * @param {import('node:stream').Readable} readable
 * @param {{ isComplete?: () => boolean, onCancel?: (reason: any) => void, label?: string, drainOnCancel?: boolean,
 *   clientBody?: ClientBody }} [opts]
 *   isComplete: called on 'close' to decide whether the body ended properly (IncomingMessage.complete).
 *   drainOnCancel: discard the rest instead of destroying the socket, so a client still uploading
 *   (e.g. a body refused as too large) can finish writing and read the answer instead of a reset.
 *   clientBody: tag every chunk as read from it.
 * @returns {ReadableStream<Uint8Array>}
 */
export function nodeToWebStream(readable, { isComplete, onCancel, label = 'body', drainOnCancel = false, clientBody } = {}) {
  let settled = false;
  return new ReadableStream(
    {
      start(controller) {
        readable.on('data', (chunk) => {
          if (settled) return;
          const bytes =
            typeof chunk === 'string'
              ? new TextEncoder().encode(chunk)
              : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
          if (clientBody) chunkOwners.set(bytes, clientBody);
          controller.enqueue(bytes);
          if ((controller.desiredSize ?? 1) <= 0) readable.pause();
        });
        readable.once('end', () => {
          if (settled) return;
          settled = true;
          controller.close();
        });
        readable.once('error', (err) => {
          if (settled) return;
          settled = true;
          // Node says just "aborted" when the peer dies mid-body: name what broke. Aborts stay as is.
          controller.error(
            err?.name === 'AbortError' ? err : new Error(`connection lost before the ${label} was complete (${err?.message})`, { cause: err }),
          );
        });
        readable.once('close', () => {
          if (settled) return;
          // 'close' without 'end': the peer went away mid-body.
          if (isComplete && isComplete()) {
            settled = true;
            controller.close();
            return;
          }
          settled = true;
          controller.error(new Error(`connection lost before the ${label} was complete`));
        });
      },
      pull() {
        readable.resume();
      },
      cancel(reason) {
        settled = true;
        try {
          onCancel?.(reason);
        } finally {
          if (drainOnCancel) {
            readable.removeAllListeners('data');
            readable.resume();
          } else {
            readable.destroy();
          }
        }
      },
    },
    { highWaterMark: HIGH_WATER_BYTES, size: (chunk) => chunk.byteLength },
  );
}

/**
 * Turn a chunk from a web stream into bytes node can write.
 * @param {any} value
 * @returns {Uint8Array}
 */
export function toBytes(value) {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new TypeError('body chunk is not bytes');
}

/**
 * Resolve when `writable` drains; reject if it closes or errors first.
 * @param {import('node:stream').Writable} writable
 * @returns {Promise<void>}
 */
export function waitDrain(writable) {
  return new Promise((resolve, reject) => {
    const done = (err) => {
      writable.off('drain', onDrain);
      writable.off('close', onClose);
      writable.off('error', onClose);
      err ? reject(err) : resolve();
    };
    const onDrain = () => done();
    const onClose = (err) => done(err instanceof Error ? err : new Error('stream closed while waiting for drain'));
    writable.on('drain', onDrain);
    writable.on('close', onClose);
    writable.on('error', onClose);
  });
}

/**
 * Copy a web ReadableStream into a node Writable chunk by chunk (each chunk written as soon as it is
 * read; waits for 'drain' when the writable is full). On a stream error the writable is destroyed,
 * so the peer sees a broken message rather than a clean end — unless `onSourceError` is given: then a
 * source error is the end of the data (workerd's fetch does that with an upload: see container_fetch), and
 * `onSourceError` is told of it, however the copy stands (even when the writable is gone meanwhile).
 * @param {ReadableStream} stream
 * @param {import('node:stream').Writable} writable
 * @param {{ end?: boolean, onSourceError?: (err: unknown) => void }} [opts]
 * @returns {Promise<number>} the bytes written, once everything was; rejects on either side's failure.
 */
export async function pipeWebToNode(stream, writable, { end = true, onSourceError } = {}) {
  const reader = stream.getReader();
  // Set before we cancel or release the reader: how `closed` settles after that is our doing, not the source's.
  let letGo = false;
  if (onSourceError) {
    reader.closed.catch((err) => {
      if (!letGo) onSourceError(err);
    });
  }
  const cancel = (reason) => {
    letGo = true;
    reader.cancel(reason).catch(() => {});
  };
  const onClose = () => {
    // The node side went away: stop the producer now instead of at its next chunk.
    if (!writable.writableFinished) cancel(new Error('destination closed'));
  };
  writable.once('close', onClose);
  if (writable.destroyed) onClose(); // already gone before we started: 'close' will not fire again
  let written = 0;
  try {
    for (;;) {
      let next;
      try {
        next = await reader.read();
      } catch (err) {
        if (onSourceError && !writable.destroyed) break;
        throw err;
      }
      if (next.done) break;
      if (writable.destroyed) throw new Error('destination closed');
      const bytes = toBytes(next.value);
      written += bytes.byteLength;
      if (!writable.write(bytes)) await waitDrain(writable);
    }
    // A cancel from onClose ends the read loop as if done: that is a failure, not a completed body.
    if (writable.destroyed) throw new Error('destination closed');
    if (end) writable.end();
    return written;
  } catch (err) {
    cancel(err);
    writable.destroy(err instanceof Error ? err : new Error(String(err)));
    throw err;
  } finally {
    writable.off('close', onClose);
    letGo = true;
    try {
      reader.releaseLock();
    } catch {
      // already released or a read is pending after cancel: nothing to do
    }
  }
}
