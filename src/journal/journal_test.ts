import assert from "node:assert/strict";
import { Journal, ORIGIN } from "./journal.ts";
import { memoryLogger } from "../base/log.ts";
import { FakeClock } from "../base/clock.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const line = (i: number) => enc.encode(JSON.stringify({ n: i, pad: "x".repeat(i % 7) }));

async function readAll(journal: Journal, from = ORIGIN): Promise<string[]> {
  const out: string[] = [];
  for await (const lines of journal.reader(from).chunks()) {
    for (const l of lines) out.push(dec.decode(l));
  }
  return out;
}

Deno.test("Journal appends lines once and reads them back in order across segments", async () => {
  const dir = await Deno.makeTempDir();
  const journal = await Journal.open(dir, { segmentBytes: 100 });
  const expected: string[] = [];
  for (let i = 0; i < 50; i += 5) {
    const batch = [0, 1, 2, 3, 4].map((k) => line(i + k));
    await journal.append({ lines: batch });
    expected.push(...batch.map((b) => dec.decode(b)));
  }
  assert.ok(journal.segmentCount > 3, `segments: ${journal.segmentCount}`);
  assert.equal(journal.end.seq, 50);
  assert.deepEqual(await readAll(journal), expected);
  journal.close();
});

Deno.test("Journal reopens at the same end and keeps reading from a saved position", async () => {
  const dir = await Deno.makeTempDir();
  let journal = await Journal.open(dir, { segmentBytes: 64 });
  await journal.append({ lines: [line(1), line(2), line(3)] });
  const reader = journal.reader(ORIGIN);
  const first = await reader.read();
  assert.ok(first);
  await journal.append({ lines: [line(4)] });
  const saved = journal.end;
  journal.close();

  journal = await Journal.open(dir, { segmentBytes: 64 });
  assert.deepEqual(journal.end, saved);
  await journal.append({ lines: [line(5)] });
  const tail = await readAll(journal, saved);
  assert.deepEqual(tail, [dec.decode(line(5))]);
  journal.close();
});

Deno.test("Journal cuts a torn record off the end on open, with a warning", async () => {
  const dir = await Deno.makeTempDir();
  let journal = await Journal.open(dir);
  await journal.append({ lines: [line(1), line(2)] });
  const end = journal.end;
  journal.close();
  const [segment] = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".ndjson"))
    .map((e) => `${dir}/${e.name}`);
  await Deno.writeFile(segment!, enc.encode('{"n":3,"pa'), { append: true });

  const logger = memoryLogger();
  journal = await Journal.open(dir, { logger });
  assert.deepEqual(journal.end, end);
  assert.equal(logger.records[0]?.level, "warn");
  assert.equal(logger.records[0]?.bytes, 10);
  assert.equal((await Deno.stat(segment!)).size, end.offset);
  await journal.append({ lines: [line(3)] });
  assert.deepEqual(await readAll(journal), [1, 2, 3].map((i) => dec.decode(line(i))));
  journal.close();
});

Deno.test("Journal.retain() deletes only segments wholly before what is still needed", async () => {
  const dir = await Deno.makeTempDir();
  const journal = await Journal.open(dir, { segmentBytes: 30 });
  const positions = [];
  for (let i = 0; i < 10; i++) positions.push(await journal.append({ lines: [line(i)] }));
  const before = journal.segmentCount;
  await journal.retain([{ from: positions[4]!.offset, to: Infinity }]);
  assert.ok(journal.segmentCount < before);
  const kept = await readAll(journal, positions[4]!);
  assert.deepEqual(kept, [5, 6, 7, 8, 9].map((i) => dec.decode(line(i))));
  await journal.retain([{ from: journal.end.offset, to: Infinity }]);
  assert.equal(journal.segmentCount, 1, "the active segment stays");
  journal.close();
});

Deno.test("Journal.waitFor() wakes a reader when lines arrive", async () => {
  const dir = await Deno.makeTempDir();
  const journal = await Journal.open(dir);
  let woke = false;
  const waiting = journal.waitFor(0).then(() => (woke = true));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(woke, false);
  await journal.append({ lines: [line(1)] });
  await waiting;
  assert.equal(woke, true);
  journal.close();
});

Deno.test("JournalReader reads lines longer than its chunk size", async () => {
  const dir = await Deno.makeTempDir();
  const journal = await Journal.open(dir);
  const long = enc.encode(JSON.stringify({ big: "y".repeat(5000) }));
  await journal.append({ lines: [line(1), long, line(2)] });
  const reader = journal.reader(ORIGIN, undefined, 64);
  const got: string[] = [];
  for await (const lines of reader.chunks()) got.push(...lines.map((l) => dec.decode(l)));
  assert.deepEqual(got, [line(1), long, line(2)].map((l) => dec.decode(l)));
  journal.close();
});

/** The bytes of every segment file, in order. */
async function segmentBytes(dir: string): Promise<Uint8Array[]> {
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".ndjson"))
    .sort();
  return await Promise.all(names.map((n) => Deno.readFile(`${dir}/${n}`)));
}

Deno.test("Journal with and without direct I/O writes the same segment files, byte for byte", async () => {
  // Lines of many lengths, appends that end mid-block and one larger than the staging buffer.
  const lines = Array.from(
    { length: 3000 },
    (_, i) => enc.encode(JSON.stringify({ n: i, pad: "z".repeat((i * 37) % 900) })),
  );
  const big = Array.from(
    { length: 4000 },
    (_, i) => enc.encode(JSON.stringify({ b: i, s: "q".repeat(400) })),
  );
  const files: Uint8Array[][] = [];
  for (const directIO of [true, false]) {
    const dir = await Deno.makeTempDir();
    const journal = await Journal.open(dir, { segmentBytes: 700_000, directIO });
    for (let i = 0; i < lines.length; i += 7) {
      await journal.append({ lines: lines.slice(i, i + 7) });
    }
    await journal.append({ lines: big }); // about 1.7 MB in one append
    assert.equal(journal.direct, directIO, "this filesystem does direct I/O");
    const read = await readAll(journal);
    assert.deepEqual(read, [...lines, ...big].map((l) => dec.decode(l)));
    journal.close();
    files.push(await segmentBytes(dir));
  }
  assert.ok(files[0]!.length > 2, `segments: ${files[0]!.length}`);
  assert.deepEqual(files[0], files[1]);
  const all = new Uint8Array(files[0]!.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of files[0]!) {
    all.set(f, at);
    at += f.length;
  }
  assert.equal(dec.decode(all), [...lines, ...big].map((l) => dec.decode(l) + "\n").join(""));
});

Deno.test("Journal left without a close (direct I/O padding) reopens at its end, without a warning", async () => {
  const dir = await Deno.makeTempDir();
  const journal = await Journal.open(dir, { directIO: true });
  await journal.append({ lines: [line(1), line(2), line(3)] });
  const end = journal.end;
  // No close(): the last block is still padded with zeros, as after a crash.
  const [segment] = await segmentBytes(dir);
  assert.equal(segment!.length % 4096, 0, "the segment ends in a padded block");
  assert.ok(segment!.length > end.offset);

  const logger = memoryLogger();
  const again = await Journal.open(dir, { logger });
  assert.deepEqual(again.end, end);
  assert.deepEqual(logger.records, [], "padding is not a torn record");
  await again.append({ lines: [line(4)] });
  assert.deepEqual(await readAll(again), [1, 2, 3, 4].map((i) => dec.decode(line(i))));
  again.close();
  const [closed] = await segmentBytes(dir);
  assert.equal(closed!.length, again.end.offset, "a clean close leaves no padding");
});

Deno.test("Journal.skipAhead() finds a position between appends, short of both limits", async () => {
  const dir = await Deno.makeTempDir();
  const journal = await Journal.open(dir);
  const big = (i: number) => enc.encode(JSON.stringify({ n: i, pad: "p".repeat(1000) }));
  const ends = [];
  for (let a = 0; a < 10; a++) {
    ends.push(
      await journal.append({ lines: Array.from({ length: 300 }, (_, k) => big(a * 300 + k)) }),
    );
  }
  // Each append is about 300 KB, so each end is remembered.
  const skip = (lines: number, bytes: number) =>
    journal.skipAhead(ORIGIN, journal.end, lines, bytes);
  assert.deepEqual(skip(301, Infinity), ends[0]);
  assert.deepEqual(skip(300, Infinity), ORIGIN, "exactly at the limit is not short of it");
  assert.deepEqual(skip(2000, Infinity), ends[5]);
  const lineBytes = ends[2]!.offset - 900; // the first 900 lines, terminators not counted
  assert.deepEqual(skip(Infinity, lineBytes + 1), ends[2]);
  assert.deepEqual(skip(Infinity, lineBytes), ends[1]);
  assert.deepEqual(skip(Infinity, Infinity), ends[9]);
  assert.deepEqual(journal.skipAhead(ends[3]!, ends[6]!, Infinity, Infinity), ends[6]);
  assert.deepEqual(journal.skipAhead(ends[3]!, ends[6]!, 300, Infinity), ends[3]);
  journal.close();
});

Deno.test("Journal.lineEnds() hands on the line ends of raw appends, and only whole ones", async () => {
  const dir = await Deno.makeTempDir();
  const journal = await Journal.open(dir);
  const frame = (lines: string[]) => {
    const text = lines.map((l) => l + "\n").join("");
    const ends: number[] = [];
    for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) ends.push(i);
    return { bytes: enc.encode(text), ends: Int32Array.from(ends) };
  };
  const a = frame(['{"a":1}', '{"a":22}', '{"a":333}']);
  const b = frame(['{"b":1}', '{"b":22}']);
  await journal.append({ raw: a.bytes, rawCount: 3, rawEnds: a.ends });
  await journal.append({ raw: b.bytes, rawCount: 2, rawEnds: b.ends });
  const all = a.bytes.length + b.bytes.length;
  assert.deepEqual([...journal.lineEnds(0, all)!], [
    ...a.ends,
    ...[...b.ends].map((e) => e + a.bytes.length),
  ]);
  // From the second line of the first append, across into the second.
  const second = a.ends[0]! + 1;
  assert.deepEqual(
    [...journal.lineEnds(second, all - second)!],
    [...a.ends.slice(1), ...b.ends.map((e) => e + a.bytes.length)].map((e) => e - second),
  );
  assert.deepEqual([...journal.lineEnds(a.bytes.length, b.bytes.length)!], [...b.ends]);
  assert.equal(journal.lineEnds(1, all - 1), undefined, "not a line start");
  assert.equal(journal.lineEnds(0, all - 1), undefined, "ends inside a line");
  // Lines appended one by one have known ends too.
  await journal.append({ lines: [line(9), line(10)] });
  assert.ok(journal.lineEnds(0, journal.end.offset));
  // A raw append whose line ends are not known leaves a gap.
  await journal.append({ raw: enc.encode('{"d":1}\n'), rawCount: 1 });
  const c = frame(['{"c":1}']);
  await journal.append({ raw: c.bytes, rawCount: 1, rawEnds: c.ends });
  assert.equal(journal.lineEnds(0, journal.end.offset), undefined);
  const cStart = journal.end.offset - c.bytes.length;
  assert.deepEqual([...journal.lineEnds(cStart, c.bytes.length)!], [...c.ends]);
  journal.close();
});

Deno.test("Journal.open() scans a segment of several MiB in pieces: lines counted, torn tail cut, padding cut quietly", async () => {
  const line = (i: number) => `{"n":${i},"pad":"${"x".repeat(100 + (i % 700))}"}`;
  const lines = Array.from({ length: 9000 }, (_, i) => line(i)); // about 4 MiB
  for (const tail of ['{"torn":', "\0".repeat(3000)]) {
    const dir = await Deno.makeTempDir();
    const journal = await Journal.open(dir, { directIO: false });
    await journal.append({ lines: lines.map((l) => new TextEncoder().encode(l)) });
    journal.close();
    const segment = [...Deno.readDirSync(dir)].find((e) => e.name.endsWith(".ndjson"))!.name;
    await Deno.writeTextFile(`${dir}/${segment}`, tail, { append: true });
    const logger = memoryLogger();
    const reopened = await Journal.open(dir, { logger });
    assert.equal(reopened.end.seq, 9000);
    assert.equal(reopened.end.offset, lines.reduce((n, l) => n + l.length + 1, 0));
    assert.equal(
      logger.records.some((r) => r.msg === "Cut a torn record off the end of the journal"),
      !tail.startsWith("\0"),
    );
    const read: string[] = [];
    for await (const chunk of reopened.reader(ORIGIN).chunks()) {
      for (const l of chunk) read.push(new TextDecoder().decode(l));
    }
    assert.deepEqual(read, lines);
    reopened.close();
  }
});

Deno.test("appendedAt() says when a line was journaled, to the second; older lines count from the open", async () => {
  const dir = await Deno.makeTempDir();
  const clock = new FakeClock(1_700_000_000_000);
  let journal = await Journal.open(dir, { clock });
  const t0 = clock.now();
  const first = journal.end.offset;
  await journal.append({ lines: [enc.encode('{"a":1}')] });
  await clock.advance(400);
  const second = journal.end.offset;
  await journal.append({ lines: [enc.encode('{"a":2}')] }); // the same second: one group
  await clock.advance(5000);
  const third = journal.end.offset;
  await journal.append({ lines: [enc.encode('{"a":3}')] });
  assert.equal(journal.appendedAt(first), t0);
  assert.equal(journal.appendedAt(second), t0, "grouped with the first, its second's start");
  assert.equal(journal.appendedAt(third), t0 + 5400);
  journal.close();
  await clock.advance(60_000);
  journal = await Journal.open(dir, { clock });
  assert.equal(journal.appendedAt(first), clock.now(), "from before the open: the open's time");
  journal.close();
});
