import assert from "node:assert/strict";
import { BatchProgress, packRecords, utf8Length } from "./parts.ts";

Deno.test("utf8Length counts as TextEncoder does", () => {
  const encoder = new TextEncoder();
  for (const text of ["", "abc", "é", "日本語", "a😀b", "\u007f\u0080\u07ff\u0800\uffff"]) {
    assert.equal(utf8Length(text), encoder.encode(text).length, text);
  }
});

Deno.test("packRecords: within count and bytes, framing included, in order; a record over the limit is refused whole", () => {
  const records = ["aaaa", "bbbb", "cccc", "d".repeat(30), "eeee", "ffff"];
  const lines = records.map((r) => `line-${r[0]}`);
  const { bodies, rejected } = packRecords(records, lines, {
    maxRecords: 2,
    maxBytes: 12,
    open: "[",
    separator: ",",
    close: "]",
    receiver: "the test",
  });
  assert.deepEqual(bodies, ["[aaaa,bbbb]", "[cccc,eeee]", "[ffff]"]);
  for (const body of bodies) assert.ok(body.length <= 12);
  assert.deepEqual(rejected, [{
    line: "line-d",
    reason: "30 bytes as a record, over the 10 the test takes; not cut",
  }]);
  const bySize = packRecords(["12345", "12345", "12345"], ["a", "b", "c"], {
    maxRecords: 100,
    maxBytes: 12,
    receiver: "x",
  });
  assert.deepEqual(bySize.bodies, ["12345\n12345", "12345"]);
});

Deno.test("BatchProgress: a batch sent again goes on from the part that failed; another batch starts at its first", async () => {
  const progress = new BatchProgress();
  const sent: string[] = [];
  let failAt = "c";
  const send = (part: string) => {
    sent.push(part);
    return Promise.resolve(
      part === failAt ? { ok: false as const, error: "503" } : { ok: true as const },
    );
  };
  assert.equal((await progress.send(7, ["a", "b", "c", "d"], send)).ok, false);
  failAt = "";
  assert.equal((await progress.send(7, ["a", "b", "c", "d"], send)).ok, true);
  assert.deepEqual(sent, ["a", "b", "c", "c", "d"]);
  sent.length = 0;
  await progress.send(8, ["x", "y"], send);
  await progress.send(7, ["a", "b"], send);
  assert.deepEqual(sent, ["x", "y", "a", "b"]);
});
