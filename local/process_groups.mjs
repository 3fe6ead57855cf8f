// Process-group plumbing for containers.mjs: every container runs in its own process group (so one
// kill reaches LiteLLM's workers too), which also means nothing kills them when the host dies
// unless we do it here.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { constants as osConstants } from 'node:os';

/** pids (= process group ids) of every child that may still be alive, for the synchronous exit hook. */
const liveGroups = new Set();

/**
 * Pick a free loopback port: bind :0, read it, close. Racy in theory; fine on a dev machine.
 * @returns {Promise<number>}
 */
export function pickFreePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Signal a whole process group.
 * @param {number} pid the group leader's pid (= pgid, since children are spawned detached)
 * @param {NodeJS.Signals | number} sig
 * @returns {boolean} false if the group no longer exists
 */
export function killGroup(pid, sig) {
  try {
    process.kill(-pid, sig);
    return true;
  } catch {
    return false; // ESRCH: the group is already gone
  }
}

/**
 * @param {number} n a signal number as workerd's container.signal() takes it (15, 9, ...)
 * @returns {NodeJS.Signals}
 */
export function signalName(n) {
  const entry = Object.entries(osConstants.signals).find(([, v]) => v === n);
  if (!entry) throw new RangeError(`unknown signal number ${n}`);
  return /** @type {NodeJS.Signals} */ (entry[0]);
}

/**
 * The watchdog: a tiny shell, in its own session and deaf to signals, that holds the read end of a pipe
 * from this process. We tell it each group as it starts (+pgid) and ends (-pgid). When this process
 * dies in any way — SIGKILL and OOM kills included, which no hook sees — the kernel closes the pipe,
 * the shell reads EOF and SIGKILLs every group still listed, as a real container host would.
 */
const WATCHDOG_SH = `
trap '' INT TERM HUP QUIT
groups=''
while IFS= read -r line; do
  case $line in
    +*) groups="$groups \${line#+}" ;;
    -*) keep=''; for g in $groups; do [ "$g" = "\${line#-}" ] || keep="$keep $g"; done; groups=$keep ;;
  esac
done
for g in $groups; do kill -KILL "-$g" 2>/dev/null; done
`;
let watchdog = null;

function tellWatchdog(line) {
  if (watchdog === null) {
    watchdog = spawn('/bin/sh', ['-c', WATCHDOG_SH], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    watchdog.on('error', () => {}); // no /bin/sh: only the exit hooks below remain
    watchdog.stdin.on('error', () => {});
    watchdog.unref();
    /** @type {any} */ (watchdog.stdin).unref?.(); // the pipe must not keep this process alive
  }
  watchdog.stdin.write(`${line}\n`);
}

/**
 * Track a started group: killed by the exit hooks, and by the watchdog if this process is killed.
 * @param {number} pgid
 */
export function trackGroup(pgid) {
  liveGroups.add(pgid);
  tellWatchdog(`+${pgid}`);
}

/** @param {number} pgid a group that has exited */
export function untrackGroup(pgid) {
  if (liveGroups.delete(pgid)) tellWatchdog(`-${pgid}`);
}

let hooksInstalled = false;
function killAllSync() {
  for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
  liveGroups.clear();
}
/**
 * Children run in their own process groups, so a Ctrl-C to the host does not reach them, and
 * they would outlive it. 'exit' covers normal exit and uncaught exceptions; for SIGINT/SIGTERM/
 * SIGHUP we only act when nobody else listens (then we restore the default: die by that signal);
 * a host with its own handlers is expected to call stopAllContainers() and exit, which hits 'exit'.
 * A SIGKILL of the host is the watchdog's job (trackGroup).
 * Idempotent.
 */
export function installExitHooks() {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    const onSignal = () => {
      if (process.listenerCount(sig) > 1) return;
      killAllSync();
      process.off(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}
