// What a workerd isolate would hold, measured in the local runtime: Cloudflare gives an isolate 128 MB (past
// it every request on it fails) and neither `wrangler dev` nor this runtime enforces that. The parts: Pyodide's
// Wasm memory (it grows and never shrinks), V8's heap in use, and memory held outside the heap. Measured in
// Node 20: V8 counts the Wasm memory in `external` (growing it by 50 MiB grew `external` by 50 MiB) and
// `arrayBuffers` is part of `external` too, so `total` = heapUsed + external, each byte counted once.
//
// Peaks are kept from the first baseline on (POST /__local/memory/baseline): sampling is not free (a timer
// waking every 4 ms costs ~4% of a core here), so a runtime nobody measures pays nothing. Once armed, a
// timer samples while requests are in flight, and so do the HTTP server (as each request begins and once it
// is over) and the Durable Object namespaces (as each fetch reaches an object and once it has answered). A
// spike that comes and goes inside one synchronous run between two samples is missed: peaks are lower
// bounds, but for the Wasm memory, which never shrinks.
//
// Peaks are of live memory: a sample above the peak so far is taken again after a full garbage collection,
// since V8 collects before an isolate's limit is judged. Without that, garbage V8 had not yet got round to
// (here: the uploads the local HTTP server drains after a refusal, which workerd never hands to an isolate)
// moved peaks by up to 12 MiB from one run of the same burst to the next.
import v8 from 'node:v8';
import vm from 'node:vm';

const SAMPLE_EVERY_MS = 4;

/**
 * @typedef {{ wasm: number, heapUsed: number, external: number, arrayBuffers: number, total: number }} Memory
 *   bytes; `arrayBuffers` is read by full samples only (at request boundaries: it costs ten times more)
 * @typedef {{ current: Memory, peak: Memory | null, baseline: Memory | null }} MemoryReport
 */

/** A function that runs a full garbage collection, made available on first use. */
let collect = null;
function fullGc() {
  if (collect === null) {
    v8.setFlagsFromString('--expose-gc');
    // Freed ArrayBuffers are otherwise swept on another thread after the collection returns, and V8's count
    // of external memory falls only then (measured in Node 20: 60 MiB still counted right after gc()).
    v8.setFlagsFromString('--no-concurrent-array-buffer-sweeping');
    collect = vm.runInNewContext('gc');
  }
  collect();
}

/** @returns {Memory} getHeapStatistics() costs ~25 µs here, process.memoryUsage() more (it reads /proc too) */
function quick(wasm, arrayBuffers) {
  const heap = v8.getHeapStatistics();
  return { wasm, heapUsed: heap.used_heap_size, external: heap.external_memory, arrayBuffers,
    total: heap.used_heap_size + heap.external_memory };
}

/** @returns {Memory} */
function full(wasm) {
  const usage = process.memoryUsage();
  return { wasm, heapUsed: usage.heapUsed, external: usage.external, arrayBuffers: usage.arrayBuffers,
    total: usage.heapUsed + usage.external };
}

/**
 * @param {{ wasmBytes: () => number, everyMs?: number }} opts wasmBytes: the size of Pyodide's linear memory
 */
export function createMemoryMeter({ wasmBytes, everyMs = SAMPLE_EVERY_MS }) {
  /** @type {Memory} */
  let current = full(wasmBytes());
  /** @type {Memory | null} null until the first baseline */
  let peak = null;
  /** @type {Memory | null} */
  let baseline = null;
  let inFlight = 0;
  let timer = null;

  const record = (next) => {
    current = next;
    if (peak !== null) peak = Object.fromEntries(Object.entries(next).map(([k, v]) => [k, Math.max(v, peak[k])]));
  };
  /** @param {() => Memory} read */
  const live = (read) => {
    const next = read();
    if (peak === null || next.total <= peak.total) return next;
    fullGc();
    return read();
  };
  const sample = () => {
    if (peak !== null) record(live(() => quick(wasmBytes(), current.arrayBuffers)));
  };
  const fullSample = () => {
    if (peak !== null) record(live(() => full(wasmBytes())));
  };
  const watch = () => {
    if (peak === null || inFlight === 0 || timer !== null) return;
    timer = setInterval(sample, everyMs);
    timer.unref(); // never what keeps the runtime alive
  };

  return {
    /** A quick sample (a Durable Object fetch begins or ends). */
    sample,
    requestStarted() {
      fullSample();
      inFlight += 1;
      watch();
    },
    requestEnded() {
      fullSample();
      inFlight -= 1;
      if (inFlight === 0 && timer !== null) {
        clearInterval(timer);
        timer = null;
      }
    },
    /** @returns {MemoryReport} */
    report() {
      record(live(() => full(wasmBytes())));
      return { current, peak, baseline };
    },
    /**
     * A full garbage collection, then the peaks start again from what is left (and are kept from now on).
     * @returns {MemoryReport}
     */
    async baseline() {
      fullGc();
      // Some memory outside the heap (a Wasm memory nobody holds, measured: 70 MiB) is released only a turn
      // after the collection that found it: a second one then reads the settled figures.
      await new Promise((resolve) => setImmediate(resolve));
      fullGc();
      current = full(wasmBytes());
      peak = { ...current };
      baseline = { ...current };
      watch();
      return { current, peak, baseline };
    },
  };
}
