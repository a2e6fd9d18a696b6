import assert from "node:assert/strict";
import { FakeClock } from "./clock.ts";

Deno.test("FakeClock fires timers in due order as time advances", async () => {
  const clock = new FakeClock(0);
  const fired: Array<[string, number]> = [];
  clock.sleep(3000).then(() => fired.push(["b", clock.now()]));
  clock.sleep(1000).then(() => fired.push(["a", clock.now()]));
  clock.sleep(5000).then(() => fired.push(["c", clock.now()]));
  await clock.advance(3000);
  assert.deepEqual(fired, [["a", 1000], ["b", 3000]]);
  assert.equal(clock.now(), 3000);
  assert.equal(clock.pending, 1);
  await clock.next();
  assert.deepEqual(fired.at(-1), ["c", 5000]);
});

Deno.test("FakeClock sleep rejects when its signal aborts and leaves no timer behind", async () => {
  const clock = new FakeClock(0);
  const controller = new AbortController();
  const sleeping = clock.sleep(1000, controller.signal);
  controller.abort(new Error("stop"));
  await assert.rejects(sleeping, /stop/);
  assert.equal(clock.pending, 0);
});

Deno.test("FakeClock.waitForTimers() resolves when the code under test starts waiting", async () => {
  const clock = new FakeClock(0);
  const waiting = clock.waitForTimers(2);
  clock.sleep(10);
  let resolved = false;
  waiting.then(() => (resolved = true));
  await Promise.resolve();
  assert.equal(resolved, false);
  clock.sleep(20);
  await waiting;
  assert.equal(clock.pending, 2);
});
