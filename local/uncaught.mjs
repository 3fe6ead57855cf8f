// What workerd logs as "Uncaught": unhandled promise rejections, errors thrown out of callbacks, and the
// errors it reports itself from the streams it pumps (an upload's body that errors: container_fetch.mjs; a
// request body a Durable Object left unread: durable_objects.mjs). A deployment shows each one as an uncaught
// exception, so they are logged the same way and counted (GET /__local/uncaught): a test can assert that a
// path leaves none. Process-wide, like Node's own hooks.

const KEEP_RECENT = 20;
const MAX_MESSAGE_CHARS = 200;

let count = 0;
/** @type {string[]} the last KEEP_RECENT messages, oldest first */
const recent = [];
let log = (/** @type {any} */ line) => process.stderr.write(`${typeof line === 'string' ? line : JSON.stringify(line)}\n`);

/** `Error: message` as workerd prints it; never throws (a rejection reason can be anything). */
function describe(reason) {
  try {
    return String(reason);
  } catch {
    return Object.prototype.toString.call(reason);
  }
}

/**
 * Log and count one uncaught error.
 * @param {unknown} reason
 * @param {'Uncaught' | 'Uncaught (in promise)'} [source] workerd's prefix: thrown, or a rejected promise
 */
export function reportUncaught(reason, source = 'Uncaught') {
  const message = `${source} ${describe(reason)}`.slice(0, MAX_MESSAGE_CHARS);
  count += 1;
  recent.push(message);
  if (recent.length > KEEP_RECENT) recent.shift();
  const line = { level: 'error', msg: message };
  if (reason instanceof Error && reason.stack) line.stack = reason.stack;
  log(line);
}

/** @returns {{count: number, recent: string[]}} */
export function uncaughtSummary() {
  return { count, recent: [...recent] };
}

/**
 * Report unhandled rejections and uncaught exceptions instead of exiting: workerd logs them and the isolate
 * keeps serving (Node would stop the whole runtime, every Durable Object and container with it).
 * @param {(line: any) => void} logLine
 */
export function installUncaughtHandlers(logLine) {
  log = logLine;
  process.on('unhandledRejection', (reason) => reportUncaught(reason, 'Uncaught (in promise)'));
  process.on('uncaughtException', (err) => reportUncaught(err, 'Uncaught'));
}
