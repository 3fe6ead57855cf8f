// Durable Object RPC as workerd delivers it (workerd src/workerd/api/worker-rpc.c++, probed in FIELD-NOTES §8):
// a stub answers any method name with a callable; arguments and results cross by structured clone, a
// Request/Response moves its body stream instead; an error crosses as a fresh Error of its standard kind
// with the callee's message (for Python: its traceback) and none of its stack.

// Names workerd's entrypoint refuses over RPC (EntrypointJsRpcTarget::isReservedName): `fetch` and `connect`
// are the stub's own, the rest belong to the Durable Object runtime or to every JS class.
const RESERVED = new Set(['fetch', 'connect', 'alarm', 'webSocketMessage', 'webSocketClose', 'webSocketError',
  'dup', 'constructor']);

// Error kinds V8's serializer keeps by name; any other error (Pyodide's PythonError) arrives as a plain Error.
const ERROR_KINDS = { Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError };

/**
 * Wraps a stub so that any property it does not have reads as an RPC method, as workerd's stub does.
 * `then` stays undefined, or awaiting a stub (or returning one from an async function) would call it.
 * @template {object} T
 * @param {T} stub
 * @param {(method: string, args: any[]) => Promise<any>} deliver receives arguments already cloned
 * @returns {T}
 */
export function rpcStub(stub, deliver) {
  return new Proxy(stub, {
    get(target, prop, receiver) {
      if (typeof prop !== 'string' || prop in target) return Reflect.get(target, prop, receiver);
      if (prop === 'then') return undefined;
      return (...args) => {
        // Cloned at the call, as workerd serialises there: a later change to an argument is not seen, and a
        // Pyodide proxy passed as an argument (destroyed once the call returns) is read while it lives.
        const cloned = args.map(cloneForRpc);
        if (RESERVED.has(prop)) {
          return Promise.reject(new TypeError(`'${prop}' is a reserved method and cannot be called over RPC.`));
        }
        return deliver(prop, cloned);
      };
    },
  });
}

/**
 * A value as the other side of an RPC call receives it. Non-cloneables throw DataCloneError as in workerd.
 * Only a Request or Response at the top level moves as such (workerd streams one anywhere in the value;
 * nested ones fail here: code that needs them fails locally first).
 * @param {any} value
 */
export function cloneForRpc(value) {
  if (value instanceof Request) return new Request(value); // takes the body stream over, unread
  if (value instanceof Response) return new Response(value.body, value);
  return structuredClone(value);
}

/**
 * What the caller catches for an error thrown by the callee.
 * @param {any} err
 */
export function crossing(err) {
  if (err instanceof DOMException) return new DOMException(err.message, err.name);
  if (!(err instanceof Error)) return err;
  const Kind = Object.hasOwn(ERROR_KINDS, err.name) ? ERROR_KINDS[err.name] : Error;
  return new Kind(err.message);
}

/** The TypeError workerd answers for a method the receiver lacks. @param {string} method */
export function notImplemented(method) {
  return new TypeError(`The RPC receiver does not implement the method "${method}".`);
}
