// The memory meter alone (memory.mjs), in a process of its own: no other test's garbage is collected meanwhile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { createMemoryMeter } from '../memory.mjs';

const MIB = 1024 * 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('memory: while a request is in flight a timer samples, so memory freed before it ends still counts', async () => {
  const meter = createMemoryMeter({ wasmBytes: () => 0, everyMs: 2 });
  const { baseline } = await meter.baseline();
  meter.requestStarted();
  let big = new Uint8Array(64 * MIB).fill(1);
  await sleep(40);
  assert.equal(big.length, 64 * MIB); // held until here
  big = null;
  const gc = vm.runInNewContext('gc'); // exposed by baseline()
  gc();
  meter.requestEnded();
  const { current, peak } = meter.report();
  const seen = JSON.stringify({ baseline, peak, current });
  assert.ok(current.external - baseline.external < 16 * MIB, `collected: ${seen}`);
  assert.ok(peak.external - baseline.external >= 48 * MIB, `seen while it was held: ${seen}`);
  assert.ok(peak.total >= current.total);
});

test('memory: peaks are of live memory: garbage not yet collected does not raise them, what is held does', async () => {
  const meter = createMemoryMeter({ wasmBytes: () => 0, everyMs: 1000 });
  const { baseline } = await meter.baseline();
  meter.requestStarted();
  // 64 MiB made and dropped in 1 MiB pieces: V8 counts them until it gets round to collecting them.
  for (let n = 0; n < 64; n += 1) new Uint8Array(MIB).fill(1);
  meter.sample();
  const afterGarbage = meter.report().peak;
  const held = Array.from({ length: 64 }, () => new Uint8Array(MIB).fill(1));
  meter.sample();
  meter.requestEnded();
  const { peak } = meter.report();
  assert.equal(held.length, 64); // held until here
  const seen = JSON.stringify({ baseline, afterGarbage, peak });
  assert.ok(afterGarbage.external - baseline.external < 16 * MIB, `garbage: ${seen}`);
  assert.ok(peak.external - baseline.external >= 64 * MIB, `held: ${seen}`);
});
