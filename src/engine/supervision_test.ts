import assert from "node:assert/strict";
import { parseDuration } from "../base/duration.ts";
import { DEFAULT_RETRY_CYCLES } from "../config/config.ts";
import { FailureWindow, RetrySchedule } from "./supervision.ts";

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
