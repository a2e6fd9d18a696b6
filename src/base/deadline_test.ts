import assert from "node:assert/strict";
import { FakeClock } from "./clock.ts";
import { Deadline, Timeout } from "./deadline.ts";

/** A connection stand-in: counts closes. */
function fakeConn() {
  return {
    closed: 0,
    close() {
      this.closed++;
    },
  };
}

Deadline.prototype; // the class under test

Deno.test("Deadline closes the connection when its time passes, and not when cleared or moved later", async () => {
  const clock = new FakeClock(0);
  const conn = fakeConn();
  const deadline = new Deadline(conn, clock);
  deadline.set(1_000);
  await clock.advance(999);
  assert.equal(conn.closed, 0);
  deadline.set(5_000); // moved later: the armed timer waits on
  await clock.advance(1_000);
  assert.equal(conn.closed, 0, "not at the old time");
  await clock.advance(3_001);
  assert.equal(conn.closed, 1, "at the new time");
  assert.equal(deadline.expired, true);

  const other = fakeConn();
  const cleared = new Deadline(other, clock);
  cleared.set(clock.now() + 100);
  cleared.clear();
  await clock.advance(1_000);
  assert.equal(other.closed, 0);
  cleared.set(clock.now() + 1_000);
  cleared.set(clock.now() + 10); // moved earlier: armed again
  await clock.advance(11);
  assert.equal(other.closed, 1);
});

Deno.test("Deadline.io() turns a call cut short into Timeout, and passes other errors on", async () => {
  const clock = new FakeClock(0);
  const deadline = new Deadline(fakeConn(), clock);
  deadline.set(10);
  await clock.advance(10);
  await assert.rejects(deadline.io(Promise.reject(new Error("closed"))), Timeout);
  const fresh = new Deadline(fakeConn(), clock);
  await assert.rejects(fresh.io(Promise.reject(new Error("reset"))), /reset/);
  assert.equal(await fresh.io(Promise.resolve(7)), 7);
});
