import assert from "node:assert/strict";
import { FakeClock } from "../../../src/base/clock.ts";
import { type TailEvent, tailFile } from "./tail.ts";

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const text = (event: IteratorResult<TailEvent>) =>
  !event.done && event.value.kind === "data" ? new TextDecoder().decode(event.value.data) : "";

/** Follows `path` with a poll interval of 250 ms on `clock`, without a checkpoint. */
const follow = (
  path: string,
  startAt: "beginning" | "end",
  clock: FakeClock,
  signal: AbortSignal,
) =>
  tailFile(
    { path, startAt, follow: true, pollInterval: 250, checkpoint: null, logger: silent, clock },
    signal,
  );

/** Fails instead of hanging when a read never comes. */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within 10 s`)), 10_000);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/**
 * Resolves once the tail's next timer is `ms` ahead (looked at every 5 ms of real time: file-system
 * events arrive on their own time); rejects after 10 s.
 */
function timerAt(clock: FakeClock, ms: number, signal?: AbortSignal): Promise<void> {
  const until = Date.now() + 10_000;
  return new Promise((resolve, reject) => {
    signal?.addEventListener("abort", () => clearInterval(look), { once: true });
    const look = setInterval(() => {
      if (clock.pending > 0 && clock.nextAt! - clock.now() === ms) {
        clearInterval(look);
        resolve();
      } else if (Date.now() > until) {
        clearInterval(look);
        reject(new Error(`the tail's timer never stood ${ms} ms ahead`));
      }
    }, 5);
  });
}

/** How far ahead the tail's timer is, once it waits. */
async function nextWake(clock: FakeClock): Promise<number> {
  await clock.waitForTimers(1);
  return clock.nextAt! - clock.now();
}

Deno.test("file tail: reads a trickle on file-system events, polls every poll_interval while writes come faster, and sleeps on events again once quiet", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/hits.ndjson`;
  await Deno.writeTextFile(path, "a\n");
  const clock = new FakeClock();
  const abort = new AbortController();
  const tail = follow(path, "beginning", clock, abort.signal);
  try {
    assert.equal(text(await tail.next()), "a\n");

    // A trickle: the tail sleeps on events, with a check every 2 s, and reads each write at once.
    let next = tail.next();
    assert.equal(await nextWake(clock), 2000, "an idle tail wakes every 2 s at most");
    await Deno.writeTextFile(path, "b\n", { append: true });
    assert.equal(text(await within(next, "read on an event")), "b\n");

    // Writes faster than polls (eight within one poll interval of the fake clock): once their
    // events are in, the tail polls every poll_interval instead of listening.
    for (let i = 0; i < 8; i++) await Deno.writeTextFile(path, `c${i}\n`, { append: true });
    // Read by events or polls, whichever the tail is on, advancing the fake clock when it polls.
    const expected = Array.from({ length: 8 }, (_, i) => `c${i}\n`).join("");
    let read = "";
    while (read !== expected) {
      next = tail.next();
      for (;;) {
        const race = new AbortController();
        const first = await Promise.race([
          next,
          timerAt(clock, 250, race.signal).then(() => "polled" as const),
        ]);
        race.abort();
        if (first !== "polled") {
          read += text(first);
          break;
        }
        await clock.advance(250);
      }
    }
    // Polling now: an append is read by the next poll.
    next = tail.next();
    await timerAt(clock, 250);
    await Deno.writeTextFile(path, "d\n", { append: true });
    await clock.advance(250);
    assert.equal(text(await within(next, "poll")), "d\n");

    // Quiet for a second: back to events, with a check every 2 s.
    next = tail.next();
    let wake = await nextWake(clock);
    for (let polls = 0; wake === 250 && polls < 10; polls++) {
      await clock.advance(250);
      wake = await nextWake(clock);
    }
    assert.equal(wake, 2000, "a quiet tail sleeps on events again");
    await Deno.writeTextFile(path, "e\n", { append: true });
    assert.equal(text(await within(next, "read on an event")), "e\n");
    abort.abort();
  } finally {
    abort.abort();
    await clock.advance(2000);
    await tail.return(undefined);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file tail: a file that appears later is found by polling and read from its start", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/later.ndjson`;
  const clock = new FakeClock();
  const abort = new AbortController();
  const tail = follow(path, "end", clock, abort.signal);
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
