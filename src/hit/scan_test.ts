import assert from "node:assert/strict";
import { checkLine } from "./hit.ts";
import { quickHit } from "./scan.ts";
import { makeHit, random } from "../../test/hits.ts";
import { compare, differentialLines } from "../../test/differential.ts";

Deno.test("quickHit() accepts only lines checkLine accepts: differential over 100,000 generated and damaged lines", () => {
  const lines = differentialLines(100_000);
  const { wrong, fast, valid } = compare(lines);
  assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} lines accepted that are not hits`);
  // Damaged lines on both sides of the line, and many valid lines decided quickly.
  assert.ok(valid > 30_000 && valid < 80_000, `${valid} valid`);
  assert.ok(fast > 0.3 * valid, `${fast} of ${valid} valid lines decided quickly`);
});

Deno.test("quickHit() takes every hit written the node's way (compact, its field order, IPv4), and no other form", () => {
  let taken = 0;
  for (let i = 0; i < 5000; i++) {
    const hit = makeHit(i, random(7000 + i));
    const compact = JSON.stringify(hit);
    const ipv4 = /^\d+\.\d+\.\d+\.\d+$/.test(hit.ip as string);
    const flat = Object.values(hit.tags as object).every((v) =>
      v === null || typeof v !== "object"
    );
    if (ipv4 && flat) {
      assert.equal(quickHit(compact), true, compact);
      taken++;
    }
    // Other forms are not rejected: they go the usual way.
    assert.equal(quickHit(JSON.stringify(hit, null, " ").replace(/\n/g, " ")), false);
  }
  assert.ok(taken > 4000, `${taken} taken`);
});

Deno.test("quickHit() takes the node's own sample, and leaves escaped keys and repeated tags to checkLine", async () => {
  const sample = await Deno.readTextFile(
    new URL("../../test/testdata/node-export-sample.ndjson", import.meta.url),
  );
  for (const line of sample.split("\n").filter((l) => l.trim())) {
    assert.equal(quickHit(line), true, line);
  }
  const hit = JSON.stringify(makeHit(1));
  assert.equal(quickHit(hit.replace('"ip":', '"i\\u0070":')), false);
  assert.equal(checkLine(hit.replace('"ip":', '"i\\u0070":')).ok, true);
  assert.equal(quickHit(`{"status_code":"abc",${hit.slice(1)}`), false);
  assert.equal(quickHit(hit.replace('"tags":{', '"tags":{"k":1,"k":2,')), false, "a tag twice");
  assert.equal(quickHit("\ufeff" + hit), false, "a BOM is the slow path's to strip");
});

Deno.test("quickHit() takes IPv6 addresses that isIP takes, and no other address with a colon", () => {
  const hit = JSON.stringify(makeHit(1));
  const withIp = (ip: string) => hit.replace(/"ip":"[^"]*"/, `"ip":"${ip}"`);
  for (const ip of ["2001:db8::1", "::1", "::", "::ffff:10.0.0.1", "FE80:0:0:0:0:0:0:1"]) {
    assert.equal(quickHit(withIp(ip)), true, ip);
    assert.equal(checkLine(withIp(ip)).ok, true, ip);
  }
  for (const ip of [":::", "1::2::3", "2001:db8::1:", "12345::1", "::ffff:10.0.0.256", ":"]) {
    assert.equal(quickHit(withIp(ip)), false, ip);
    assert.equal(checkLine(withIp(ip)).ok, false, ip);
  }
  // A zone is the full check's to judge.
  assert.equal(quickHit(withIp("fe80::1%eth0")), false);
});
