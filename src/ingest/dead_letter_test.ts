import assert from "node:assert/strict";
import { DeadLetter } from "./dead_letter.ts";

const enc = new TextEncoder();

Deno.test("DeadLetter keeps each rejected line with its number and reason, and rotates past its size", async () => {
  const dir = await Deno.makeTempDir();
  const letters = new DeadLetter(dir, 400, () => 0);
  letters.add(7, "not valid JSON: Unexpected token", enc.encode("hello"));
  await letters.flush();
  const first = JSON.parse(await Deno.readTextFile(letters.path));
  assert.deepEqual(first, {
    time: "1970-01-01T00:00:00.000Z",
    line: 7,
    reason: "not valid JSON: Unexpected token",
    raw: "hello",
  });
  for (let i = 0; i < 10; i++) {
    letters.add(100 + i, "status_code: expected an integer", enc.encode(`{"n":${i}}`));
    await letters.flush();
  }
  const current = (await Deno.readTextFile(letters.path)).trim().split("\n");
  const old = (await Deno.readTextFile(`${dir}/dead-letter.1.ndjson`)).trim().split("\n");
  assert.ok((await Deno.stat(letters.path)).size <= 400, "bounded");
  assert.equal(JSON.parse(current.at(-1)!).line, 109, "the newest record is kept");
  assert.ok(old.length > 0, "one old file is kept");
});

Deno.test("DeadLetter cuts a huge line and says so", async () => {
  const dir = await Deno.makeTempDir();
  const letters = new DeadLetter(dir);
  letters.add(1, "too long", new Uint8Array(100_000).fill(0x61));
  await letters.flush();
  const record = JSON.parse(await Deno.readTextFile(letters.path));
  assert.equal(record.raw.length, 64 * 1024);
  assert.equal(record.truncated, true);
});

Deno.test("DeadLetter drops, counts and warns once when it cannot write; it never throws", async () => {
  const { memoryLogger } = await import("../base/log.ts");
  const dir = await Deno.makeTempDir();
  const logger = memoryLogger();
  const letters = new DeadLetter(`${dir}/missing`, 1024, () => 0, logger);
  for (let i = 0; i < 3; i++) {
    letters.add(i + 1, "bad", enc.encode("x"));
    await letters.flush();
  }
  assert.equal(letters.dropped, 3);
  assert.equal(logger.records.filter((r) => r.level === "warn").length, 1);
  await Deno.mkdir(`${dir}/missing`);
  letters.add(4, "bad", enc.encode("y"));
  await letters.flush();
  assert.equal(letters.dropped, 3);
  assert.equal(JSON.parse(await Deno.readTextFile(letters.path)).line, 4);
  assert.match(logger.records.at(-1)!.msg, /written again/);
});

Deno.test("DeadLetter stays within its size however much one flush brings, and keeps a summary record", async () => {
  const dir = await Deno.makeTempDir();
  const letters = new DeadLetter(dir, 10_000, () => 0);
  for (let i = 0; i < 2_000; i++) letters.add(i + 1, "expected a JSON object", enc.encode("{}"));
  letters.summary(2_001, 5_000_000, "5000000 more rejected lines", "http");
  assert.equal(await letters.flush(), 0);
  const current = await Deno.readTextFile(letters.path);
  const old = await Deno.readTextFile(`${dir}/dead-letter.1.ndjson`);
  assert.ok(current.length <= 10_000 && old.length <= 10_000, `${current.length}, ${old.length}`);
  const last = JSON.parse(current.trim().split("\n").at(-1)!);
  assert.deepEqual(last, {
    time: "1970-01-01T00:00:00.000Z",
    line: 2_001,
    reason: "5000000 more rejected lines",
    raw: "",
    count: 5_000_000,
    input: "http",
  });
  await Deno.remove(dir, { recursive: true });
});
