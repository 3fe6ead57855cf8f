// Preloaded into the local runtime by bench/edge_profile.py only (NODE_OPTIONS=--require ...; node refuses
// --cpu-prof there, and a profile of the whole process would mix start-up into the requests measured):
// SIGUSR2 starts V8's CPU profiler, the next SIGUSR2 stops it and writes $BENCH_CPU_PROFILE_DIR/<n>.cpuprofile.
// A `started-<n>` file tells the bench the profiler is running.
"use strict";
const fs = require("node:fs");
const inspector = require("node:inspector");
const path = require("node:path");

const dir = process.env.BENCH_CPU_PROFILE_DIR;
const intervalUs = Number(process.env.BENCH_CPU_PROFILE_INTERVAL_US || 250);
const session = new inspector.Session();
session.connect();
let running = false;
let count = 0;

function fail(err) {
  process.stderr.write(`cpu profile hook: ${err?.message ?? err}\n`);
}

process.on("SIGUSR2", () => {
  if (!running) {
    running = true;
    session.post("Profiler.enable", () =>
      session.post("Profiler.setSamplingInterval", { interval: intervalUs }, () =>
        session.post("Profiler.start", (err) => (err ? fail(err) : fs.writeFileSync(path.join(dir, `started-${count}`), "")))));
    return;
  }
  session.post("Profiler.stop", (err, result) => {
    running = false;
    if (err) return fail(err);
    const file = path.join(dir, `${count++}.cpuprofile`);
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(result.profile));
    fs.renameSync(`${file}.tmp`, file); // the bench waits for this name: only a complete file carries it
  });
});
