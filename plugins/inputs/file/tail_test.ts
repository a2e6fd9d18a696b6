import assert from "node:assert/strict";
import { FakeClock } from "../../../src/base/clock.ts";
import { type TailEvent, tailFile } from "./tail.ts";

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const text = (event: IteratorResult<TailEvent>) =>
  !event.done && event.value.kind === "data" ? new TextDecoder().decode(event.value.data) : "";

/** Fails instead of hanging when a read never comes. */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within 10 s`)), 10_000);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/** How far ahead the tail's timer is, once it waits. */
async function nextWake(clock: FakeClock): Promise<number> {
  await clock.waitForTimers(1);
  return clock.nextAt! - clock.now();
}

Deno.test("file tail: polls every poll_interval while the file grows, then sleeps on file-system events with a check every 2 s", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/hits.ndjson`;
  await Deno.writeTextFile(path, "a\n");
  const clock = new FakeClock();
  const abort = new AbortController();
  const tail = tailFile({
    path,
    startAt: "beginning",
    follow: true,
    pollInterval: 250,
    checkpoint: null,
    logger: silent,
    clock,
  }, abort.signal);
  try {
    assert.equal(text(await tail.next()), "a\n");

    // Growing: the next look is one poll interval away, and an append is read by it.
    let next = tail.next();
    assert.equal(await nextWake(clock), 250);
    await Deno.writeTextFile(path, "b\n", { append: true });
    await clock.advance(250);
    assert.equal(text(await within(next, "poll")), "b\n");

    // Quiet for a second: the tail stops polling and waits for an event, checking every 2 s.
    next = tail.next();
    let wake = await nextWake(clock);
    for (let polls = 0; wake === 250 && polls < 10; polls++) {
      await clock.advance(250);
      wake = await nextWake(clock);
    }
    assert.equal(wake, 2000, "an idle tail wakes every 2 s at most");

    // An append now is read on its file-system event, with no timer due.
    await Deno.writeTextFile(path, "c\n", { append: true });
    assert.equal(text(await within(next, "read on an event")), "c\n");

    // And the file is growing again: polled.
    next = tail.next();
    assert.equal(await nextWake(clock), 250);
    abort.abort();
    await clock.advance(250);
    await next;
  } finally {
    abort.abort();
    await tail.return(undefined);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file tail: a file that appears later is found by polling and read from its start", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/later.ndjson`;
  const clock = new FakeClock();
  const abort = new AbortController();
  const tail = tailFile({
    path,
    startAt: "end",
    follow: true,
    pollInterval: 250,
    checkpoint: null,
    logger: silent,
    clock,
  }, abort.signal);
  try {
    const next = tail.next();
    await clock.waitForTimers(1);
    await Deno.writeTextFile(path, "x\n");
    // Polled (or woken by the event of its creation) within a few poll intervals.
    const event = within(next, "new file");
    for (let i = 0; i < 10 && clock.pending > 0; i++) await clock.advance(250);
    assert.equal(text(await event), "x\n");
  } finally {
    abort.abort();
    await clock.advance(2000);
    await tail.return(undefined);
    await Deno.remove(dir, { recursive: true });
  }
});
