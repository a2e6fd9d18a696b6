import assert from "node:assert/strict";
import { Journal, ORIGIN } from "./journal.ts";
import { memoryLogger } from "./log.ts";

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
    await journal.append(batch);
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
  await journal.append([line(1), line(2), line(3)]);
  const reader = journal.reader(ORIGIN);
  const first = await reader.read();
  assert.ok(first);
  await journal.append([line(4)]);
  const saved = journal.end;
  journal.close();

  journal = await Journal.open(dir, { segmentBytes: 64 });
  assert.deepEqual(journal.end, saved);
  await journal.append([line(5)]);
  const tail = await readAll(journal, saved);
  assert.deepEqual(tail, [dec.decode(line(5))]);
  journal.close();
});

Deno.test("Journal cuts a torn record off the end on open, with a warning", async () => {
  const dir = await Deno.makeTempDir();
  let journal = await Journal.open(dir);
  await journal.append([line(1), line(2)]);
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
  await journal.append([line(3)]);
  assert.deepEqual(await readAll(journal), [1, 2, 3].map((i) => dec.decode(line(i))));
  journal.close();
});

Deno.test("Journal.release() deletes only segments wholly before the position", async () => {
  const dir = await Deno.makeTempDir();
  const journal = await Journal.open(dir, { segmentBytes: 30 });
  const positions = [];
  for (let i = 0; i < 10; i++) positions.push(await journal.append([line(i)]));
  const before = journal.segmentCount;
  await journal.release(positions[4]!);
  assert.ok(journal.segmentCount < before);
  const kept = await readAll(journal, positions[4]!);
  assert.deepEqual(kept, [5, 6, 7, 8, 9].map((i) => dec.decode(line(i))));
  await journal.release(journal.end);
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
  await journal.append([line(1)]);
  await waiting;
  assert.equal(woke, true);
  journal.close();
});

Deno.test("JournalReader reads lines longer than its chunk size", async () => {
  const dir = await Deno.makeTempDir();
  const journal = await Journal.open(dir);
  const long = enc.encode(JSON.stringify({ big: "y".repeat(5000) }));
  await journal.append([line(1), long, line(2)]);
  const { JournalReader } = await import("./journal.ts");
  const reader = new JournalReader(journal, ORIGIN, undefined, 64);
  const got: string[] = [];
  for await (const lines of reader.chunks()) got.push(...lines.map((l) => dec.decode(l)));
  assert.deepEqual(got, [line(1), long, line(2)].map((l) => dec.decode(l)));
  journal.close();
});
