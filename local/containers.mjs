// A Cloudflare Container (what a Durable Object sees as `ctx.container`) emulated as a local child
// process. The shape follows workerd's Container API: `running` (the process exists; not "ready"),
// `start({env, entrypoint, enableInternet})` (returns at once, does not wait for readiness),
// `monitor()` (settles when it exits; rejects on a crash), `destroy(reason?)`, `signal(n)`, and
// `getTcpPort(port).fetch(url, init)`.
import { spawn } from 'node:child_process';
import http from 'node:http';
import readline from 'node:readline';
import { containerFetch } from './container_fetch.mjs';
import { pickFreePort, killGroup, signalName, trackGroup, untrackGroup, installExitHooks } from './process_groups.mjs';

/** SIGTERM grace before destroy() escalates to SIGKILL (LiteLLM exits in ~1.7 s on SIGTERM). */
const DESTROY_GRACE_MS = 2000;
/** Free keep-alive sockets are closed before uvicorn's 5 s keep-alive timeout can race us. */
const AGENT_FREE_SOCKET_MS = 4000;

/** @type {Map<string, LocalContainer>} */
const registry = new Map();

/**
 * @typedef {{ env?: Record<string, string> | Map<string, string>, entrypoint?: string[], enableInternet?: boolean }} StartOptions
 */

export class LocalContainer {
  /**
   * @param {{ id: string, className?: string, startCommand: string[], cwd?: string,
   *   baseEnv?: Record<string, string>, containerPort?: number, log?: (line: string) => void }} opts
   */
  constructor({ id, className = '', startCommand, cwd, baseEnv = {}, containerPort = 4000, log = console.log }) {
    if (!Array.isArray(startCommand) || startCommand.length === 0) throw new TypeError('startCommand must be a non-empty array');
    const existing = registry.get(id);
    if (existing?.running) throw new Error(`container ${id} already exists and is running`);
    this.id = id;
    this.className = className;
    this._startCommand = startCommand;
    this._cwd = cwd;
    this._baseEnv = baseEnv;
    this._containerPort = containerPort;
    this._log = log;
    /** @type {any} the current (or last) run; null before the first start() */
    this._run = null;
    this._starts = 0;
    registry.set(id, this);
    installExitHooks();
  }

  /** True from start() until the process has exited (not "ready": that is the caller's probe). */
  get running() {
    return this._run !== null && this._run.exitInfo === null;
  }

  /**
   * Start the container. Returns at once (like workerd's, it is not async); the port mapping and the
   * spawn happen in the background, and fetches made meanwhile wait for the mapping.
   * @param {StartOptions} [options]
   */
  start(options = {}) {
    if (this.running) throw new Error('start() cannot be called on a container that is already running.');
    if (options && typeof options.toJs === 'function') {
      // A Python dict passed without to_js(): workerd would not understand it either. Fail loudly here.
      throw new TypeError('container.start(): pass options through to_js(..., dict_converter=js.Object.fromEntries)');
    }
    const env = options?.env instanceof Map ? Object.fromEntries(options.env) : { ...(options?.env ?? {}) };
    const command = Array.isArray(options?.entrypoint) && options.entrypoint.length ? options.entrypoint : this._startCommand;
    // enableInternet has no local equivalent: the child shares the host's network.
    const run = {
      startedAt: new Date(),
      pid: null,
      port: null,
      child: null,
      stopRequested: null, // 'destroy' | signal number
      exitInfo: null,
      agent: new http.Agent({ keepAlive: true, timeout: AGENT_FREE_SOCKET_MS }),
    };
    run.exited = new Promise((resolve) => (run.resolveExit = resolve));
    run.portReady = this._launch(run, command, env);
    this._run = run;
    this._starts++;
  }

  async _launch(run, command, env) {
    let port = null;
    try {
      port = await pickFreePort();
    } catch (error) {
      this._finish(run, { error });
    }
    if (port === null || run.stopRequested !== null) {
      this._finish(run, {}); // no-op if already finished
      return null;
    }
    const childEnv = {};
    for (const [k, v] of Object.entries({ ...this._baseEnv, ...env })) if (v !== undefined && v !== null) childEnv[k] = String(v);
    // Last, so a PORT passed by the Durable Object cannot break the port mapping.
    childEnv.PORT = String(port);
    childEnv.HOST = '127.0.0.1';
    const [file, ...args] = command;
    const child = spawn(file, args, {
      cwd: this._cwd,
      env: childEnv,
      detached: true, // own process group: destroy() takes LiteLLM's worker processes with it
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    run.child = child;
    run.port = port;
    child.once('error', (err) => this._finish(run, { error: err }));
    child.once('exit', (code, signal) => this._finish(run, { code, signal }));
    if (child.pid !== undefined) {
      run.pid = child.pid;
      trackGroup(child.pid);
      this._log(`[${this.id}] started pid ${child.pid}, container port ${this._containerPort} -> 127.0.0.1:${port}`);
    }
    for (const stream of [child.stdout, child.stderr]) {
      readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => this._log(`[${this.id}] ${line}`));
    }
    return port;
  }

  _finish(run, { code = null, signal = null, error = null }) {
    if (run.exitInfo !== null) return;
    const req = run.stopRequested;
    let ok;
    if (error) ok = false;
    else if (req === 'destroy') ok = true;
    else if (typeof req === 'number') ok = signal !== null || code === 0 || code === 128 + req;
    else ok = code === 0;
    const message = error
      ? `container failed to start: ${error.message}`
      : signal
        ? `container exited by signal ${signal}`
        : `container exited with code ${code}`;
    run.exitInfo = { ok, code, signal, message, at: new Date() };
    if (run.pid !== null) {
      // When PID 1 of a real container exits, everything in it dies: emulate with the group.
      killGroup(run.pid, 'SIGKILL');
      untrackGroup(run.pid);
    }
    run.agent.destroy();
    this._log(`[${this.id}] ${message}${req !== null ? ' (requested)' : ''}`);
    run.resolveExit(run.exitInfo);
  }

  /**
   * Settles when the process exits: resolves on exit code 0 or after a stop we asked for
   * (destroy()/signal()); rejects on any other exit (crash, foreign kill, spawn failure).
   * @returns {Promise<void>}
   */
  monitor() {
    if (!this.running) return Promise.reject(new Error('monitor() cannot be called on a container that is not running.'));
    return this._run.exited.then((info) => {
      if (!info.ok) throw new Error(info.message);
    });
  }

  /**
   * SIGTERM the process group, SIGKILL after a short grace; resolves once it has exited.
   * A no-op when not running.
   * @param {any} [reason]
   * @returns {Promise<void>}
   */
  async destroy(reason) {
    const run = this._run;
    if (!run || run.exitInfo !== null) return;
    run.stopRequested = 'destroy';
    this._log(`[${this.id}] destroy${reason ? `: ${String(reason)}` : ''}`);
    if (run.pid !== null) {
      killGroup(run.pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(run.pid, 'SIGKILL'), DESTROY_GRACE_MS);
      await run.exited;
      clearTimeout(timer);
    } else {
      await run.exited; // _launch sees stopRequested and finishes without spawning
    }
  }

  /**
   * Send a signal number (15 SIGTERM, 9 SIGKILL, ...) to the process group. An exit caused by it
   * counts as requested, so monitor() resolves.
   * @param {number} signo
   */
  signal(signo) {
    if (!this.running) throw new Error('signal() cannot be called on a container that is not running.');
    const run = this._run;
    const name = signalName(signo);
    if (run.stopRequested !== 'destroy') run.stopRequested = signo;
    if (run.pid !== null) killGroup(run.pid, name);
    else if (signo === 9 || signo === 15) run.stopRequested = 'destroy'; // not spawned yet: just never spawn
  }

  /**
   * @param {number} port the port inside the container
   * @returns {{ fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> }}
   */
  getTcpPort(port) {
    return { fetch: (input, init) => this._fetch(port, input, init) };
  }

  async _fetch(port, input, init) {
    const run = this._run;
    if (!run || run.exitInfo !== null) throw new Error(`container ${this.id} is not running: connection refused`);
    if (port !== this._containerPort) throw new Error(`container ${this.id}: connection refused on port ${port} (only ${this._containerPort} is mapped)`);
    const hostPort = await run.portReady;
    if (hostPort === null) throw new Error(`container ${this.id} is not running: connection refused`);
    return containerFetch({ hostPort, agent: run.agent, input, init, label: this.id });
  }

  /** @returns {{id: string, className: string, running: boolean, pid: number | null, port: number | null, startedAt: string | null, restarts: number, lastExit: any}} */
  describe() {
    const run = this._run;
    return {
      id: this.id,
      className: this.className,
      running: this.running,
      pid: run?.pid ?? null,
      port: run?.port ?? null,
      startedAt: run ? run.startedAt.toISOString() : null,
      restarts: Math.max(0, this._starts - 1),
      lastExit: run?.exitInfo ? { code: run.exitInfo.code, signal: run.exitInfo.signal, ok: run.exitInfo.ok } : null,
    };
  }
}

/** @returns {ReturnType<LocalContainer['describe']>[]} */
export function listContainers() {
  return [...registry.values()].map((c) => c.describe());
}

/** @param {string} id @returns {LocalContainer | undefined} */
export function getContainer(id) {
  return registry.get(id);
}

/**
 * Simulate a crash: signal the group without marking the stop as requested, so monitor() rejects.
 * @param {string} id
 * @param {NodeJS.Signals} [signal]
 * @returns {boolean} true if a running container was signalled
 */
export function killContainer(id, signal = 'SIGKILL') {
  const c = registry.get(id);
  const pid = c?._run?.pid;
  if (!c || !c.running || pid == null) return false;
  return killGroup(pid, signal);
}

/**
 * Destroy every container (SIGTERM, then SIGKILL after the grace) and wait for all to exit.
 * @returns {Promise<void>}
 */
export async function stopAllContainers() {
  await Promise.all([...registry.values()].map((c) => c.destroy('runtime shutdown')));
}
