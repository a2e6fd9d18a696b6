import assert from "node:assert/strict";
import { builtinPlugins } from "../../plugins/mod.ts";
import { makeHit } from "../../test/hits.ts";
import { FakeClock } from "../base/clock.ts";
import { parseConfig } from "../config/config.ts";
import { memoryLogger } from "../base/log.ts";
import { Engine } from "./engine.ts";
import { outputStatePath } from "./output_state.ts";
import { CaptureOutput } from "../testing/capture_output.ts";
import { until as waitUntil } from "../../test/helpers.ts";

const enc = new TextEncoder();
const hits = Array.from({ length: 50 }, (_, i) => JSON.stringify(makeHit(i)));

interface Setup {
  dir: string;
  clock: FakeClock;
  engine: Engine;
  outputs: Record<string, CaptureOutput>;
  logger: ReturnType<typeof memoryLogger>;
  push(lines: string[]): Promise<void>;
  restart(outputs?: Record<string, CaptureOutput>): Promise<void>;
}

async function setup(outputsYaml: string, names: string[], top = ""): Promise<Setup> {
  const dir = await Deno.makeTempDir();
  const clock = new FakeClock(1_700_000_000_000);
  const logger = memoryLogger();
  const config = parseConfig(
    `data_dir: ${dir}\nstatus_file: ${dir}/status.json\n${top}\noutputs:\n${outputsYaml}`,
    "test.yaml",
    { plugins: builtinPlugins, env: () => undefined },
  );
  const make = () => Object.fromEntries(names.map((n) => [n, new CaptureOutput(clock)]));
  const s: Setup = {
    dir,
    clock,
    logger,
    outputs: make(),
    engine: undefined as unknown as Engine,
    async push(lines) {
      await s.engine.ingester.push(enc.encode(lines.map((l) => l + "\n").join("")));
    },
    async restart(outputs) {
      await s.engine.stop();
      s.outputs = outputs ?? make();
      s.engine = await Engine.start(config, {
        plugins: builtinPlugins,
        clock,
        logger,
        outputs: s.outputs,
      });
    },
  };
  s.engine = await Engine.start(config, {
    plugins: builtinPlugins,
    clock,
    logger,
    outputs: s.outputs,
  });
  return s;
}

/** Fails when `promise` takes longer than `ms` of real time (where the bug would hang). */
async function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits (in real time, briefly) until the engine has done what the test waits for. */
function until(what: string, condition: () => boolean): Promise<void> {
  return waitUntil(what, condition, 500, 5);
}

const fileOutput = (name: string, extra = "") =>
  `  - { name: ${name}, type: file, path: unused/${name}${extra ? `, ${extra}` : ""} }\n`;

Deno.test("Engine delivers batches of max_hits in order and resumes from the saved cursor", async () => {
  const s = await setup(fileOutput("a", "max_hits: 3"), ["a"]);
  await s.push(hits.slice(0, 7));
  await until("two batches arrive", () => s.outputs.a!.requests.length === 2);
  assert.deepEqual(s.outputs.a!.delivered, hits.slice(0, 6));
  const first = s.outputs.a!;

  await s.restart();
  const state = JSON.parse(await Deno.readTextFile(outputStatePath(s.dir, "a")));
  assert.equal(state.cursor.seq, 6, "the cursor was saved after the second batch");
  await s.push(hits.slice(7, 9));
  await s.engine.drain(1000);
  assert.deepEqual(s.outputs.a!.delivered, hits.slice(6, 9), "no hit twice, none lost");
  assert.equal(first.delivered.length + s.outputs.a!.delivered.length, 9);
});

Deno.test("Engine cuts a batch at the line that reaches max_bytes, with the journal ahead", async () => {
  const lines = hits.slice(0, 40);
  const maxBytes = 2_000;
  // The engine starts with the journal already holding every line: batches are cut in it.
  const s = await setup(fileOutput("a", `max_bytes: ${maxBytes}, interval: 1h`), ["a"]);
  await s.push(lines);
  await s.engine.drain(1000);
  const batches = s.outputs.a!.requests.filter((r) => r.kind === "batch").map((r) => r.lines);
  assert.deepEqual(batches.flat(), lines, "every line once, in order");
  const bytes = (batch: string[]) => batch.reduce((n, line) => n + enc.encode(line).length, 0);
  for (const batch of batches.slice(0, -1)) {
    assert.ok(bytes(batch) >= maxBytes, "a batch closes once it reaches max_bytes");
    assert.ok(bytes(batch.slice(0, -1)) < maxBytes, "and not a line later");
  }
  assert.ok(batches.length > 5);
});

Deno.test("Engine cuts batches at exactly max_hits when the journal is megabytes ahead", async () => {
  const many = Array.from({ length: 3000 }, (_, i) => JSON.stringify(makeHit(i)));
  const s = await setup(fileOutput("a", "max_hits: 1234, interval: 1h"), ["a"]);
  // Pushed before the output runs: appends of about 280 KB, positions the journal remembers.
  for (let i = 0; i < many.length; i += 500) await s.push(many.slice(i, i + 500));
  await s.engine.drain(5000);
  const batches = s.outputs.a!.requests.filter((r) => r.kind === "batch").map((r) => r.lines);
  assert.deepEqual(batches.map((b) => b.length), [1234, 1234, 532]);
  assert.deepEqual(batches.flat(), many, "every line once, in order");
});

Deno.test("Engine cuts a batch `interval` after its first hit, in virtual time", async () => {
  const s = await setup(fileOutput("a", "interval: 10m"), ["a"]);
  const t0 = s.clock.now();
  await s.push(hits.slice(0, 2));
  await s.clock.waitForTimers(1);
  await s.clock.advance(599_000);
  assert.equal(s.outputs.a!.requests.length, 0);
  await s.push(hits.slice(2, 3));
  await s.clock.advance(1_000);
  await until("the batch arrives", () => s.outputs.a!.requests.length === 1);
  assert.equal(s.outputs.a!.requests[0]!.at, t0 + 600_000);
  assert.deepEqual(s.outputs.a!.delivered, hits.slice(0, 3));
  await s.engine.drain(1000);
});

Deno.test("A failing batch is resent with the node's schedule, under the same key", async () => {
  const s = await setup(
    fileOutput("a", "max_hits: 1"),
    ["a"],
    "auto_disable: { min_requests: 1000 }",
  );
  s.outputs.a!.respond(() => ({ ok: false, status: 500, error: "HTTP 500" }));
  await s.push(hits.slice(0, 1));
  while (s.outputs.a!.requests.length < 20) {
    await s.clock.waitForTimers(1);
    await s.clock.next();
  }
  const at = s.outputs.a!.requests.slice(0, 20).map((r) => r.at);
  const gaps = at.slice(1).map((t, i) => (t - at[i]!) / 1000);
  assert.deepEqual(gaps, [
    1,
    3,
    5,
    10,
    10, // cycle 1
    0,
    1,
    3,
    5,
    30, // cycle 2
    60,
    60,
    180,
    300,
    600,
    1800, // cycle 3
    1800,
    1800,
    1800, // then every 30 minutes
  ]);
  assert.equal(new Set(s.outputs.a!.requests.map((r) => r.key)).size, 1, "same key every time");
  const status = s.engine.status.outputs.a!;
  assert.equal(status.state, "retrying");
  assert.equal(status.requests, s.outputs.a!.requests.length);
  assert.equal(status.failed_requests, status.requests);
  assert.equal(status.last_error, "HTTP 500");
  assert.ok(status.next_retry_at);

  // A success resets the schedule: the next failure waits 1 s again.
  s.outputs.a!.respond(() => ({ ok: true, status: 200 }));
  await s.clock.waitForTimers(1);
  await s.clock.next();
  await until("delivered", () => s.outputs.a!.delivered.length === 1);
  assert.equal(s.engine.status.outputs.a!.state, "active");
  s.outputs.a!.respond(() => ({ ok: false, error: "ECONNREFUSED" }));
  const before = s.outputs.a!.requests.length;
  await s.push(hits.slice(1, 2));
  await until("a new failure", () => s.outputs.a!.requests.length === before + 1);
  await s.clock.waitForTimers(1);
  assert.equal(s.clock.nextAt! - s.clock.now(), 1000);
  await s.engine.stop();
});

Deno.test("An output that keeps failing is auto-disabled and the others hear integration_broken", async () => {
  const s = await setup(
    fileOutput(
      "a",
      "max_hits: 1, retry: { cycles: [[1s]], then_every: 1s }, " +
        "auto_disable: { min_requests: 5 }",
    ) +
      fileOutput("b", "max_hits: 1, events: [hits, system]") +
      fileOutput("c", "max_hits: 1"),
    ["a", "b", "c"],
  );
  s.outputs.a!.respond(() => ({ ok: false, status: 503, error: "HTTP 503 Service Unavailable" }));
  await s.push(hits.slice(0, 1));
  for (let i = 0; i < 4; i++) {
    await until(`request ${i + 1}`, () => s.outputs.a!.requests.length === i + 1);
    await s.clock.waitForTimers(1);
    await s.clock.next();
  }
  await until("auto-disabled", () => s.engine.status.outputs.a!.state === "auto_disabled");
  assert.equal(s.outputs.a!.requests.length, 5, "it stopped sending after 5 requests");
  await until("b hears it", () => s.outputs.b!.events.length === 1);
  const [event] = s.outputs.b!.events;
  assert.equal(event!.name, "integration_broken");
  assert.deepEqual(event!.details, {
    integration: "a",
    type: "file",
    failure_ratio: 1,
    requests: 5,
    failed_requests: 5,
    last_error: "HTTP 503 Service Unavailable",
  });
  assert.equal(s.outputs.c!.events.length, 0, "c does not take system events");
  assert.deepEqual(s.outputs.b!.delivered, hits.slice(0, 1));

  // The state survives a restart, and `enable` resumes from the cursor.
  await s.restart();
  assert.equal(s.engine.status.outputs.a!.state, "auto_disabled");
  await s.clock.advance(60_000);
  assert.equal(s.outputs.a!.requests.length, 0);
  await Deno.writeTextFile(
    outputStatePath(s.dir, "a").replace(/\.json$/, ".request.json"),
    JSON.stringify({ enabled: true }),
  );
  await s.engine.applyRequests();
  assert.equal(s.engine.status.outputs.a!.state, "active");
  await s.engine.drain(1000);
  assert.deepEqual(s.outputs.a!.delivered, hits.slice(0, 1), "the held hit is delivered");
});

Deno.test("A retrying output never delays another", async () => {
  const s = await setup(fileOutput("slow", "max_hits: 1") + fileOutput("fast", "max_hits: 1"), [
    "slow",
    "fast",
  ]);
  s.outputs.slow!.respond(() => ({ ok: false, error: "ECONNREFUSED" }));
  await s.push(hits.slice(0, 10));
  await until("fast has everything", () => s.outputs.fast!.delivered.length === 10);
  assert.equal(s.outputs.slow!.delivered.length, 0);
  assert.equal(s.engine.status.outputs.slow!.pending_hits, 10);
  await s.engine.stop();
});

Deno.test("A batch in flight at a stop is replayed under the same key with the same hits", async () => {
  const s = await setup(fileOutput("a", "max_hits: 4"), ["a"]);
  s.outputs.a!.respond(() => ({ ok: false, error: "socket hang up" }));
  await s.push(hits.slice(0, 6));
  await until("first attempt", () => s.outputs.a!.requests.length === 1);
  const [attempt] = s.outputs.a!.requests;
  await s.restart();
  await s.engine.drain(1000);
  const [replay, rest] = s.outputs.a!.requests;
  assert.equal(replay!.key, attempt!.key);
  assert.deepEqual(replay!.lines, attempt!.lines);
  assert.deepEqual(replay!.lines, hits.slice(0, 4));
  assert.deepEqual(rest!.lines, hits.slice(4, 6));
  assert.notEqual(rest!.key, replay!.key);
});

/** Turns `a` off while it fails, pushes hits 2-4 while it is off, turns it on, pushes 4-6. */
async function offAndOn(mode: string) {
  const s = await setup(
    fileOutput("a", `max_hits: 2${mode}`) + fileOutput("b", "max_hits: 2, events: [hits, system]"),
    ["a", "b"],
  );
  s.outputs.a!.respond(() => ({ ok: false, error: "down" }));
  await s.push(hits.slice(0, 2));
  await until("a tried", () => s.outputs.a!.requests.length === 1);
  await s.engine.runner("a")!.setEnabled(false);
  assert.equal(s.engine.status.outputs.a!.state, "disabled");
  await s.push(hits.slice(2, 4));
  await until("b has 4", () => s.outputs.b!.delivered.length === 4);
  assert.equal(s.engine.status.snapshot().outputs.a!.pending_hits, mode ? 2 : 4);
  s.outputs.a!.respond(() => ({ ok: true }));
  await s.engine.runner("a")!.setEnabled(true);
  await s.push(hits.slice(4, 6));
  await s.engine.drain(1000);
  return s;
}

Deno.test("A disabled output keeps what came while it was off and delivers it in order once on (while_disabled: keep)", async () => {
  const s = await offAndOn("");
  assert.deepEqual(s.outputs.a!.delivered, hits.slice(0, 6));
  assert.equal(s.engine.status.outputs.a!.skipped_hits, 0);
  assert.deepEqual(s.outputs.b!.events.map((e) => e.name), ["disable_integration"]);
});

Deno.test("while_disabled: skip passes over what came while the output was off, counted and announced", async () => {
  const s = await offAndOn(", while_disabled: skip");
  assert.deepEqual(s.outputs.a!.delivered, [...hits.slice(0, 2), ...hits.slice(4, 6)]);
  assert.equal(s.engine.status.outputs.a!.skipped_hits, 2);
  assert.deepEqual(s.outputs.b!.events.map((e) => e.name), [
    "disable_integration",
    "hits_dropped",
  ]);
  const dropped = s.outputs.b!.events[1]!;
  assert.equal(dropped.details.skipped_hits, 2);
  assert.equal(dropped.details.dropped_hits, 0);
});

Deno.test("At max_journal_bytes an output that is off loses its oldest hits alone; the input never waits for it", async () => {
  const many = Array.from({ length: 600 }, (_, i) => JSON.stringify(makeHit(i)));
  const s = await setup(
    fileOutput("off", "max_hits: 1000, interval: 1h") +
      fileOutput("on", "max_hits: 10, events: [hits, system]"),
    ["off", "on"],
    "max_journal_bytes: 64KiB\njournal_segment_bytes: 16KiB",
  );
  await s.engine.runner("off")!.setEnabled(false);
  for (let i = 0; i < many.length; i += 20) {
    await within("the push", 5000, s.push(many.slice(i, i + 20)));
  }
  await until("on has all", () => s.outputs.on!.delivered.length === many.length);
  assert.equal(s.engine.status.input.paused, false);
  const off = s.engine.status.snapshot().outputs.off!;
  assert.ok(off.dropped_hits > 0 && off.dropped_hits < many.length, `${off.dropped_hits}`);
  assert.equal(off.dropped_hits + off.pending_hits, many.length);
  assert.ok(s.engine.journal.bytes < 64 * 1024 + 20 * 600);
  // One hits_dropped event within the hour, however many segments were dropped.
  await until("on hears it", () => s.outputs.on!.events.some((e) => e.name === "hits_dropped"));
  const announced = s.outputs.on!.events.filter((e) => e.name === "hits_dropped");
  assert.equal(announced.length, 1);
  await s.push(many.slice(0, 200));
  await s.clock.advance(3_600_000);
  await until(
    "the next hour's event",
    () => s.outputs.on!.events.filter((e) => e.name === "hits_dropped").length === 2,
  );
  const dropped = s.outputs.on!.events.filter((e) => e.name === "hits_dropped")
    .reduce((n, e) => n + (e.details.dropped_hits as number), 0);
  assert.equal(dropped, s.engine.status.outputs.off!.dropped_hits);

  // On again, it delivers what it still holds, in order: the newest hits, none twice.
  await s.engine.runner("off")!.setEnabled(true);
  await s.engine.drain(2000);
  const got = s.outputs.off!.delivered;
  const all = [...many, ...many.slice(0, 200)];
  assert.deepEqual(got, all.slice(all.length - got.length));
  assert.equal(got.length + s.engine.status.outputs.off!.dropped_hits, all.length);
});

Deno.test("An active segment that every output has passed is rolled and freed when the journal is full", async () => {
  const many = Array.from({ length: 400 }, (_, i) => JSON.stringify(makeHit(i)));
  const s = await setup(
    fileOutput("a", "max_hits: 1000, interval: 1s"),
    ["a"],
    "max_journal_bytes: 64KiB\njournal_segment_bytes: 32KiB",
  );
  // One append far past the segment size: the active segment alone is over the limit.
  await s.push(many.slice(0, 300));
  await s.clock.advance(1000);
  await until("a has 300", () => s.outputs.a!.delivered.length === 300);
  await within("the push after it", 5000, s.push(many.slice(300)));
  assert.equal(s.engine.status.input.paused, false);
  await s.engine.drain(1000);
  assert.deepEqual(s.outputs.a!.delivered, many);
  assert.equal(s.engine.status.outputs.a!.dropped_hits, 0);
});

Deno.test("A config whose max_journal_bytes holds fewer than two segments is rejected", () => {
  assert.throws(
    () =>
      parseConfig(
        "max_journal_bytes: 64MiB\noutputs: [{ name: a, type: file, path: x }]",
        "c.yaml",
        { plugins: builtinPlugins, env: () => undefined },
      ),
    /c\.yaml:1:20: max_journal_bytes: expected at least two journal segments \(2 x journal_segment_bytes = 134217728 bytes\), got 67108864/,
  );
});

Deno.test("Filters pass only matching hits, and segments are released once every output passed them", async () => {
  const s = await setup(
    fileOutput("sqli", "max_hits: 1000, filter: { attack_type: [sqli] }") +
      fileOutput("all", "max_hits: 1000"),
    ["sqli", "all"],
    "journal_segment_bytes: 2KiB",
  );
  await s.push(hits);
  await s.engine.drain(1000);
  const expected = hits.filter((h) => JSON.parse(h).attack_type === "sqli");
  assert.ok(expected.length > 0);
  assert.deepEqual(s.outputs.sqli!.delivered, expected);
  assert.deepEqual(s.outputs.all!.delivered, hits);
  const segments = [...Deno.readDirSync(`${s.dir}/journal`)].filter((e) =>
    e.name.endsWith(".ndjson")
  );
  assert.equal(segments.length, 1, "only the active segment is left");
});

const ic = (name: string, extra: string) =>
  `  - { name: ${name}, type: insightconnect, api_url: "http://127.0.0.1:9/connect/v1/workflows/w/events/execute", api_key: k, ${extra} }\n`;

Deno.test("rate_limit holds requests per minute without losing a hit", async () => {
  const s = await setup(ic("soar", "rate_limit: 5, max_hits_per_request: 1"), ["soar"]);
  const t0 = s.clock.now();
  await s.push(hits.slice(0, 12));
  await until("5 requests", () => s.outputs.soar!.requests.length === 5);
  await s.clock.waitForTimers(1);
  assert.equal(s.outputs.soar!.requests.length, 5, "the sixth waits");
  await s.clock.advance(60_000);
  await until("10 requests", () => s.outputs.soar!.requests.length === 10);
  await s.clock.waitForTimers(1);
  await s.clock.advance(60_000);
  await until("12 requests", () => s.outputs.soar!.requests.length === 12);
  const minutes = s.outputs.soar!.requests.map((r) => Math.floor((r.at - t0) / 60_000));
  assert.deepEqual(minutes, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2]);
  assert.deepEqual(s.outputs.soar!.delivered, hits.slice(0, 12));
  await s.engine.drain(1000);
});

Deno.test("A threshold alert sends one hits_threshold_exceeded per period to outputs that take alerts", async () => {
  const s = await setup(
    ic("ops", "events: [alerts]") + ic("soar", "events: [hits]"),
    ["ops", "soar"],
    "alerts: [{ name: sqli-burst, filter: { attack_type: [sqli] }, threshold: 3, period: 1m }]",
  );
  const sqli = hits.filter((h) => JSON.parse(h).attack_type === "sqli");
  assert.ok(sqli.length >= 5);
  await s.push(sqli.slice(0, 3));
  await s.clock.advance(10_000);
  assert.equal(s.outputs.ops!.requests.length, 0, "3 is not more than 3");
  await s.push(sqli.slice(3, 5));
  await until("the alert", () => s.outputs.ops!.events.length === 1);
  const [event] = s.outputs.ops!.events;
  assert.equal(event!.name, "hits_threshold_exceeded");
  assert.equal(event!.details.alert, "sqli-burst");
  assert.equal(event!.details.threshold, 3);
  assert.equal(s.outputs.soar!.events.length, 0);
  await s.engine.drain(1000);
  assert.equal(s.outputs.ops!.events.length, 1);
});

Deno.test("Every hour, outputs that take report get an hourly_report of the last hour", async () => {
  const s = await setup(ic("ops", "events: [report]") + fileOutput("a", "max_hits: 5"), [
    "ops",
    "a",
  ]);
  await s.engine.ingester.push(enc.encode(hits.slice(0, 10).join("\n") + "\nnot json\n"));
  await until("delivered", () => s.outputs.a!.delivered.length === 10);
  await s.clock.advance(3_600_000);
  await until("the report", () => s.outputs.ops!.events.length === 1);
  const [report] = s.outputs.ops!.events;
  assert.equal(report!.name, "hourly_report");
  assert.deepEqual(
    { ...report!.details, period_start: undefined, period_end: undefined },
    {
      period_start: undefined,
      period_end: undefined,
      lines_read: 11,
      hits_read: 10,
      hits_rejected: 1,
      delivered: { ops: 0, a: 10 },
    },
  );
  await s.clock.advance(3_600_000);
  await until("the second report", () => s.outputs.ops!.events.length === 2);
  assert.equal(s.outputs.ops!.events[1]!.details.hits_read, 0);
  await s.engine.drain(1000);
});

Deno.test("A send that succeeds after the drain timeout fired still counts as delivered", async () => {
  const s = await setup(fileOutput("a", "max_hits: 5"), ["a"]);
  let finish: () => void = () => {};
  const slow = {
    sent: [] as string[],
    async send(batch: { lines(): AsyncIterable<Uint8Array[]> }) {
      for await (const chunk of batch.lines()) {
        for (const line of chunk) slow.sent.push(new TextDecoder().decode(line));
      }
      await new Promise<void>((resolve) => (finish = resolve)); // ignores the abort signal
      return { ok: true as const };
    },
  };
  await s.restart({ a: slow as unknown as CaptureOutput });
  await s.push(hits.slice(0, 5));
  await until("the send began", () => slow.sent.length === 5);
  const draining = s.engine.drain(1000);
  await s.clock.advance(1000); // the timeout fires, the send is aborted...
  finish(); // ...and answers 2xx all the same
  const result = await draining;
  assert.deepEqual(result.undelivered, {});
  const state = JSON.parse(await Deno.readTextFile(outputStatePath(s.dir, "a")));
  assert.equal(state.cursor.seq, 5, "the next run does not send them again");
  assert.equal(state.counters.delivered_hits, 5);
});

Deno.test("An output removed from the config, by restart or by reload, is announced once as delete_integration", async () => {
  const dir = await Deno.makeTempDir();
  const clock = new FakeClock();
  const load = (outputs: string) =>
    parseConfig(`data_dir: ${dir}\noutputs:\n${outputs}`, "c.yaml", {
      plugins: builtinPlugins,
      env: () => undefined,
    });
  const soar = fileOutput("soar", "events: [hits, system]");
  const start = async (outputs: string, names: string[]) => {
    const captured = Object.fromEntries(names.map((n) => [n, new CaptureOutput(clock)]));
    const engine = await Engine.start(load(outputs), {
      plugins: builtinPlugins,
      clock,
      logger: memoryLogger(),
      outputs: captured,
    });
    return { engine, captured };
  };
  let run = await start(soar + fileOutput("archive") + fileOutput("local"), [
    "soar",
    "archive",
    "local",
  ]);
  await run.engine.stop();

  // Restarted without "archive": announced once.
  run = await start(soar + fileOutput("local"), ["soar", "local"]);
  await until("announced", () => run.captured.soar!.events.length === 1);
  assert.deepEqual(run.captured.soar!.events.map((e) => [e.name, e.details]), [
    ["delete_integration", { integration: "archive", type: "file" }],
  ]);
  await run.engine.stop();
  run = await start(soar + fileOutput("local"), ["soar", "local"]);
  await run.engine.drain(1000);
  assert.equal(run.captured.soar!.events.length, 0, "not again at the next start");

  // Reloaded without "local".
  run = await start(soar + fileOutput("local"), ["soar", "local"]);
  await run.engine.reload(load(soar));
  await until("announced", () => run.captured.soar!.events.length === 1);
  assert.deepEqual(run.captured.soar!.events[0]!.details, { integration: "local", type: "file" });
  await run.engine.drain(1000);
});
