import assert from "node:assert/strict";
import { mixedInput, random } from "../../test/hits.ts";
import { systemClock } from "../base/clock.ts";
import { DeadLetter } from "./dead_letter.ts";
import { Ingester, LineSplitter } from "./ingester.ts";
import { Journal, ORIGIN } from "../journal/journal.ts";
import { memoryLogger } from "../base/log.ts";
import { StatusBoard } from "../status/status.ts";

const enc = new TextEncoder();
// Byte-exact: a BOM in the journal must show, not be dropped by decoding.
const dec = new TextDecoder("utf-8", { ignoreBOM: true });

async function ingest(text: string | Uint8Array, cut: (n: number) => number) {
  const dir = await Deno.makeTempDir();
  const journal = await Journal.open(`${dir}/journal`);
  const status = new StatusBoard(undefined, systemClock, [{
    name: "input",
    type: "stdin",
    path: null,
  }]);
  const deadLetter = new DeadLetter(dir);
  const ingester = new Ingester({ journal, deadLetter, status, logger: memoryLogger() });
  const bytes = typeof text === "string" ? enc.encode(text) : text;
  const buffer = new Uint8Array(70_000); // reused between chunks, like stdin
  for (let at = 0; at < bytes.length;) {
    const n = Math.min(cut(at), bytes.length - at, buffer.length);
    buffer.set(bytes.subarray(at, at + n));
    await ingester.push(buffer.subarray(0, n));
    at += n;
  }
  await ingester.end();
  const journaled: string[] = [];
  for await (const lines of journal.reader(ORIGIN).chunks()) {
    for (const l of lines) journaled.push(dec.decode(l));
  }
  journal.close();
  const dead = await Deno.readTextFile(deadLetter.path).then(
    (t) => t.trim().split("\n").map((l) => JSON.parse(l)),
    () => [],
  );
  return { journaled, status: status.input, dead };
}

Deno.test("Ingester journals every valid line in order, whatever the chunk boundaries", async () => {
  const { text, hits } = mixedInput(2000, 40);
  const expectedDead = text.split("\n").map((l, i) => [i + 1, l] as const)
    .filter(([, l]) => l !== "" && !hits.includes(l));
  const rand = random(3);
  for (const cut of [() => 65_536, () => 1 + Math.floor(rand() * 3000), () => 7]) {
    const { journaled, status, dead } = await ingest(text, cut);
    assert.deepEqual(journaled, hits);
    assert.equal(status.hits, 2000);
    assert.equal(status.rejected, 40);
    assert.equal(status.lines, 2040);
    assert.deepEqual(dead.map((d) => [d.line, d.raw]), expectedDead, "line numbers hold");
  }
});

Deno.test("Ingester takes CRLF and blank lines in a bulk region line by line", async () => {
  const { hits } = mixedInput(3, 0);
  const text = `${hits[0]}\r\n\n   \n${hits[1]}\n${hits[2]}`;
  const { journaled, status } = await ingest(text, () => 1 << 16);
  assert.deepEqual(journaled, hits);
  assert.equal(status.lines, 3);
});

Deno.test("Ingester rejects a hit with bytes that are not UTF-8 and keeps one holding U+FFFD itself, in one region", async () => {
  const { hits } = mixedInput(4, 0);
  const replacement = hits[1]!.replace('"uri":"', '"uri":"\uFFFD\u00e9');
  const bad = enc.encode(hits[2]!.replace('"uri":"', '"uri":"#'));
  bad[bad.indexOf(0x23)] = 0xff; // a byte that is never UTF-8
  const bytes = new Uint8Array([
    ...enc.encode(hits[0] + "\n" + replacement + "\n"),
    ...bad,
    ...enc.encode("\n" + hits[3] + "\n"),
  ]);
  const { journaled, status, dead } = await ingest(bytes, () => 1 << 16);
  assert.deepEqual(journaled, [hits[0], replacement, hits[3]]);
  assert.equal(status.rejected, 1);
  assert.equal(dead[0].line, 3);
  assert.match(dead[0].reason, /UTF-8/);
});

Deno.test("LineSplitter cuts an over-long line and keeps its length", () => {
  const splitter = new LineSplitter(10);
  const lines = splitter.push(enc.encode("short\n" + "x".repeat(25) + "\nok\n"));
  assert.deepEqual(lines.map((l) => [dec.decode(l.bytes), l.oversized]), [
    ["short", undefined],
    ["x".repeat(10), 25],
    ["ok", undefined],
  ]);
});

Deno.test("Ingester hands the journal the line ends of ASCII regions, and none for others", async () => {
  const dir = await Deno.makeTempDir();
  const journal = await Journal.open(`${dir}/journal`);
  const status = new StatusBoard(undefined, systemClock, [{
    name: "input",
    type: "stdin",
    path: null,
  }]);
  const ingester = new Ingester({
    journal,
    deadLetter: new DeadLetter(dir),
    status,
    logger: memoryLogger(),
  });
  const { hits } = mixedInput(200, 0);
  const ascii = enc.encode(hits.slice(0, 100).map((h) => h + "\n").join(""));
  await ingester.push(ascii);
  const ends = journal.lineEnds(0, ascii.length);
  assert.ok(ends, "an ASCII region's line ends are known");
  assert.equal(ends.length, 100);
  for (const end of ends) assert.equal(ascii[end], 10);

  // One line with a multi-byte character: string offsets are no longer byte offsets.
  const other = hits.slice(100).map((h, i) => i === 50 ? h.replace('"uri":"', '"uri":"/é') : h);
  const mixed = enc.encode(other.map((h) => h + "\n").join(""));
  await ingester.push(mixed);
  assert.equal(status.input.hits, 200, "both regions journaled");
  assert.equal(journal.lineEnds(ascii.length, mixed.length), undefined);
  journal.close();
});

Deno.test("Ingester strips a BOM at the start of any line, so exports stay JSON", async () => {
  const { hits } = mixedInput(4, 0);
  const bom = "\uFEFF";
  // Line 1, a line in the middle, and a line at the start of a later chunk.
  const text = `${bom}${hits[0]}\n${hits[1]}\n${bom}${hits[2]}\n${bom}${hits[3]}\n`;
  const firstChunk = enc.encode(`${bom}${hits[0]}\n${hits[1]}\n`).length;
  for (const cut of [() => 1 << 16, (at: number) => (at === 0 ? firstChunk : 1 << 16)]) {
    const { journaled, status } = await ingest(text, cut);
    assert.deepEqual(journaled, hits, "no BOM in the journal");
    assert.equal(status.rejected, 0);
    JSON.parse(`[${journaled.join(",")}]`);
  }
});

Deno.test("Ingester rejects a 10,000-level poison line with its reason and keeps the lines around it", async () => {
  const { hits } = mixedInput(3, 0);
  const hit = JSON.parse(hits[1]!);
  const poison = JSON.stringify({ ...hit, point: "P" }).replace(
    '"P"',
    "[".repeat(10_000) + "]".repeat(10_000),
  );
  const text = `${hits[0]}\n${poison}\n${hits[2]}\n`;
  const { journaled, status, dead } = await ingest(text, () => 1 << 16);
  assert.deepEqual(journaled, [hits[0], hits[2]]);
  assert.equal(status.rejected, 1);
  assert.deepEqual(dead.map((d) => [d.line, d.reason]), [
    [2, "nests deeper than 64 levels of objects and arrays"],
  ]);
});

Deno.test("Ingester numbers lines from the checkpoint's line, and from 1 after a rotation or truncation", async () => {
  const dir = await Deno.makeTempDir();
  const journal = await Journal.open(`${dir}/journal`);
  await journal.append({ input: "input", checkpoint: { state: "before", line: 10 } });
  const status = new StatusBoard(undefined, systemClock, [{
    name: "input",
    type: "file",
    path: "/x",
  }]);
  const deadLetter = new DeadLetter(dir);
  const ingester = new Ingester({ journal, deadLetter, status, logger: memoryLogger() });
  const at = (offset: number) => (held: number) => ({ offset: offset - held });
  const { hits } = mixedInput(1, 0);
  await ingester.push(enc.encode(`${hits[0]}\nbad a\n`), { checkpoint: at(500), resumed: true });
  assert.deepEqual(journal.checkpointOf("input"), { state: { offset: 500 }, line: 12 });
  await ingester.end({ next: true, checkpoint: { offset: 0 } });
  await ingester.push(enc.encode(`bad b\n${hits[0]}\n`), { checkpoint: at(12) });
  await ingester.discard({ checkpoint: { offset: 0 } });
  await ingester.push(enc.encode(`${hits[0]}\nbad c\npart`), { checkpoint: at(24) });
  assert.deepEqual(journal.checkpointOf("input"), { state: { offset: 20 }, line: 2 });
  journal.close();
  const dead = (await Deno.readTextFile(deadLetter.path)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.deepEqual(dead.map((d) => [d.line, d.raw]), [[12, "bad a"], [1, "bad b"], [2, "bad c"]]);
});

Deno.test("Ingester.submit() journals a body apart from the stream, its lines numbered from 1, and says what it took", async () => {
  const dir = await Deno.makeTempDir();
  const journal = await Journal.open(`${dir}/journal`);
  const status = new StatusBoard(undefined, systemClock, [
    { name: "api", type: "http", path: null },
  ]);
  const deadLetter = new DeadLetter(dir);
  const ingester = new Ingester({
    journal,
    deadLetter,
    status,
    logger: memoryLogger(),
    input: "api",
  });
  const { hits } = mixedInput(6, 0);
  const [a, b] = await Promise.all([
    ingester.submit(enc.encode(`${hits[0]}\nnot json\n${hits[1]}\n${hits[2]}`)),
    ingester.submit(enc.encode(`${hits[3]}\n\n{"a":1}\n${hits[4]}\n${hits[5]}\n`)),
  ]);
  assert.deepEqual(a, {
    full: false,
    accepted: 3,
    rejected: 1,
    errors: [{
      line: 2,
      reason: "not valid JSON: Unexpected token 'o', \"not json\" is not valid JSON",
    }],
  });
  assert.equal(b.accepted, 3);
  assert.deepEqual(b.errors.map((e) => e.line), [3]);
  const journaled: string[] = [];
  for await (const lines of journal.reader(ORIGIN).chunks()) {
    for (const l of lines) journaled.push(dec.decode(l));
  }
  assert.deepEqual(journaled.toSorted(), hits.toSorted(), "every valid hit, once");
  assert.deepEqual(
    journaled.filter((h) => hits.slice(0, 3).includes(h)),
    hits.slice(0, 3),
    "a body's hits in its order",
  );
  assert.equal(status.inputs.api!.hits, 6);
  assert.equal(status.inputs.api!.rejected, 2);
  journal.close();
  const dead = (await Deno.readTextFile(deadLetter.path)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.deepEqual(dead.map((d) => [d.input, d.line]).toSorted(), [["api", 2], ["api", 3]]);
});
