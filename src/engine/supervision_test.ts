import assert from "node:assert/strict";
import { parseDuration } from "../base/duration.ts";
import { DEFAULT_RETRY_CYCLES } from "../config/config.ts";
import { FailureWindow, RetrySchedule, Supervisor, type SupervisorOptions } from "./supervision.ts";
import { FakeClock } from "../base/clock.ts";

const HOUR = 3_600_000;

Deno.test("RetrySchedule follows the node's 16 intervals, then every 30 minutes", () => {
  const cycles = DEFAULT_RETRY_CYCLES.map((c) => c.map((d) => parseDuration(d)!));
  const schedule = new RetrySchedule(cycles, 30 * 60_000);
  const delays = Array.from({ length: 19 }, () => schedule.next() / 1000);
  assert.deepEqual(delays, [
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
    1800, // then every 30 min
  ]);
  schedule.reset();
  assert.equal(schedule.next(), 1000, "a success starts over");
});

Deno.test("FailureWindow does not trip below min_requests, even at 100 % failures", () => {
  const w = new FailureWindow({ window: 12 * HOUR, minRequests: 10, failureRatio: 0.6 });
  for (let i = 0; i < 9; i++) w.record(true, i * 1000);
  assert.equal(w.tripped(9000), false);
  w.record(true, 9000);
  assert.equal(w.tripped(9000), true);
});

Deno.test("FailureWindow trips at exactly 60 % and not just below", () => {
  const at = new FailureWindow({ window: 12 * HOUR, minRequests: 10, failureRatio: 0.6 });
  for (let i = 0; i < 10; i++) at.record(i < 6, i * 1000);
  assert.equal(at.counts(10_000).ratio, 0.6);
  assert.equal(at.tripped(10_000), true);

  const below = new FailureWindow({ window: 12 * HOUR, minRequests: 10, failureRatio: 0.6 });
  for (let i = 0; i < 10; i++) below.record(i < 5, i * 1000);
  assert.equal(below.tripped(10_000), false);
});

Deno.test("FailureWindow forgets failures older than the window", () => {
  const w = new FailureWindow({ window: 12 * HOUR, minRequests: 10, failureRatio: 0.6 });
  for (let i = 0; i < 6; i++) w.record(true, i * 1000);
  for (let i = 0; i < 4; i++) w.record(false, 2 * HOUR + i * 1000);
  assert.equal(w.tripped(2 * HOUR + 4000), true);
  // 12 h after the failures, only the 4 successes remain.
  const later = 12 * HOUR + 6000;
  assert.deepEqual(w.counts(later), { requests: 4, failures: 0, ratio: 0 });
  assert.equal(w.tripped(later), false);
});

Deno.test("FailureWindow survives a restart through toJSON() and restore()", () => {
  const w = new FailureWindow({ window: 12 * HOUR, minRequests: 3, failureRatio: 0.6 });
  w.record(true, 0);
  w.record(true, 1000);
  const saved = JSON.parse(JSON.stringify(w));
  const restored = new FailureWindow(w.options);
  restored.restore(saved, 2000);
  restored.record(false, 2000);
  assert.deepEqual(restored.counts(2000), { requests: 3, failures: 2, ratio: 2 / 3 });
  assert.equal(restored.tripped(2000), true);
});

function supervisor(clock: FakeClock, extra: Partial<SupervisorOptions> = {}) {
  return new Supervisor({
    cycles: [[1000, 3000], [0]],
    thenEvery: 60_000,
    window: 43_200_000,
    minRequests: 5,
    failureRatio: 0.6,
    clock,
    ...extra,
  });
}

const fail = () => Promise.resolve({ ok: false as const, status: 500, error: "HTTP 500" });
const succeed = () => Promise.resolve({ ok: true as const, status: 202 });
const never = new AbortController().signal;

Deno.test("Supervisor: each failure says the schedule's next interval; a success starts it over", async () => {
  const clock = new FakeClock();
  const s = supervisor(clock, { minRequests: 1000 });
  const delays = [];
  for (let i = 0; i < 4; i++) {
    const outcome = await s.attempt(fail, never);
    assert.equal(outcome.kind, "failed");
    delays.push((outcome as { delay: number }).delay);
  }
  assert.deepEqual(delays, [1000, 3000, 0, 60_000]);
  assert.equal((await s.attempt(succeed, never)).kind, "delivered");
  const again = await s.attempt(fail, never);
  assert.equal((again as { delay: number }).delay, 1000);
});

Deno.test("Supervisor: the request that brings the failed share to the ratio says broken", async () => {
  const clock = new FakeClock();
  const s = supervisor(clock);
  const kinds = [];
  for (const send of [succeed, succeed, fail, fail, fail]) {
    kinds.push((await s.attempt(send, never)).kind);
    await clock.advance(1000);
  }
  assert.deepEqual(kinds, ["delivered", "delivered", "failed", "failed", "broken"]);
  const broken = await s.attempt(fail, never);
  assert.deepEqual(broken.kind === "broken" && broken.window, {
    requests: 6,
    failures: 4,
    ratio: 4 / 6,
  });
});

Deno.test("Supervisor: an interrupted request is not counted, unless it succeeded all the same", async () => {
  const clock = new FakeClock();
  const s = supervisor(clock);
  const stop = new AbortController();
  /** Resolves when `signal` aborts (at once when it has). */
  const aborted = (signal: AbortSignal) =>
    signal.aborted
      ? Promise.resolve()
      : new Promise((resolve) => signal.addEventListener("abort", resolve));
  const hung = s.attempt(async (signal) => {
    await aborted(signal);
    return { ok: false, error: "aborted" };
  }, stop.signal);
  stop.abort();
  assert.equal((await hung).kind, "interrupted");
  assert.equal(s.window.counts(clock.now()).requests, 0);
  const late = new AbortController();
  const answered = s.attempt(async (signal) => {
    await aborted(signal);
    return { ok: true };
  }, late.signal);
  late.abort();
  assert.equal((await answered).kind, "delivered");
  assert.equal(s.window.counts(clock.now()).requests, 1);
});

Deno.test("Supervisor: at most rate_limit requests a minute; a wait for the limit can be cut short", async () => {
  const clock = new FakeClock(0);
  const s = supervisor(clock, { ratePerMinute: 2 });
  const at: number[] = [];
  const send = () => {
    at.push(clock.now());
    return succeed();
  };
  await s.attempt(send, never);
  await s.attempt(send, never);
  const third = s.attempt(send, never);
  await clock.waitForTimers(1);
  await clock.advance(60_000);
  await third;
  await s.attempt(send, never);
  assert.deepEqual(at, [0, 0, 60_000, 60_000]);
  const cut = new AbortController();
  const fifth = s.attempt(send, cut.signal);
  await clock.waitForTimers(1);
  cut.abort();
  assert.equal((await fifth).kind, "interrupted");
  assert.equal(at.length, 4);
});
