import assert from "node:assert/strict";
import { checkLine } from "./hit.ts";

const sample = {
  time: "1687241470",
  request_id: "d2a900a6efac7a7c893a00903205071a",
  ip: "127.0.0.1",
  datacenter: "unknown",
  tor: "none",
  remote_country: null,
  application_id: [-1],
  domain: "localhost",
  method: "GET",
  uri: "/etc/passwd",
  protocol: "none",
  status_code: 499,
  attack_type: "ptrav",
  block_status: "monitored",
  payload: ["/etc/passwd"],
  point: ["uri"],
  tags: { lom_id: 7, wallarm_mode: "monitoring" },
};

function reason(hit: unknown): string {
  const result = checkLine(typeof hit === "string" ? hit : JSON.stringify(hit));
  assert.equal(result.ok, false, "line should be rejected");
  return (result as { reason: string }).reason;
}

Deno.test("checkLine() accepts the node's own sample hits", async () => {
  const text = await Deno.readTextFile(
    new URL("../../test/testdata/node-export-sample.ndjson", import.meta.url),
  );
  const lines = text.split("\n").filter((l) => l !== "");
  assert.ok(lines.length > 0);
  for (const line of lines) assert.equal(checkLine(line).ok, true, line);
});

Deno.test("checkLine() accepts time as digits or an integer, IPv6, countries and nested points", () => {
  for (
    const hit of [
      { ...sample, time: 1687241470 },
      { ...sample, ip: "2001:db8::1" },
      { ...sample, ip: "::ffff:10.0.0.1" },
      { ...sample, remote_country: "DE" },
      { ...sample, point: ["post", ["json_doc", 0], "hash", 3, ["a", ["b"]]] },
      { ...sample, tags: {} },
      { ...sample, application_id: [] },
    ]
  ) {
    const result = checkLine(JSON.stringify(hit));
    assert.equal(result.ok, true, JSON.stringify(hit));
  }
});

Deno.test("checkLine() keeps unknown fields", () => {
  const result = checkLine(JSON.stringify({ ...sample, node_uuid: "abc", extra: { a: 1 } }));
  assert.ok(result.ok);
  assert.equal(result.hit.node_uuid, "abc");
  assert.deepEqual(result.hit.extra, { a: 1 });
});

Deno.test("checkLine() names the first bad field and what it got", () => {
  assert.equal(
    reason({ ...sample, status_code: "abc" }),
    'status_code: expected an integer, got "abc"',
  );
  assert.equal(
    reason({ ...sample, status_code: 4.5 }),
    "status_code: expected an integer, got 4.5",
  );
  assert.equal(
    reason({ ...sample, time: "16872x" }),
    'time: expected Unix seconds (a string of digits or an integer), got "16872x"',
  );
  assert.equal(
    reason({ ...sample, ip: "300.1.1.1" }),
    'ip: expected an IPv4 or IPv6 address, got "300.1.1.1"',
  );
  assert.equal(
    reason({ ...sample, application_id: [1, "two"] }),
    'application_id[1]: expected an integer, got "two"',
  );
  assert.equal(
    reason({ ...sample, remote_country: 7 }),
    "remote_country: expected a string or null, got 7",
  );
  assert.equal(reason({ ...sample, tags: [] }), "tags: expected an object, got an array");
  assert.match(reason({ ...sample, point: [{ a: 1 }] }), /^point\[0\]: /);
});

Deno.test("checkLine() reports a missing field as required", () => {
  const { attack_type: _, ...missing } = sample;
  assert.equal(reason(missing), "attack_type: is required (expected a string)");
});

Deno.test("checkLine() rejects text, truncated JSON, arrays and scalars", () => {
  assert.match(reason("hello world"), /^not valid JSON: /);
  assert.match(reason(JSON.stringify(sample).slice(0, 50)), /^not valid JSON: /);
  assert.equal(reason("[1,2]"), "expected a JSON object, got an array");
  assert.equal(reason("42"), "expected a JSON object, got number");
  assert.equal(reason("null"), "expected a JSON object, got null");
});

Deno.test("isValidHit() accepts exactly what the zod schema accepts (property test)", async () => {
  const { hitSchema, isValidHit } = await import("./hit.ts");
  const { makeHit, random } = await import("../../test/hits.ts");
  const rand = random(7);
  const odd: unknown[] = [
    "",
    "12a",
    -1,
    1.5,
    0,
    "0",
    null,
    true,
    [],
    {},
    [1, "x"],
    [[["deep"]], 2],
    [{}],
    "::1",
    "1.2.3",
    "1.2.3.4.5",
    "01.2.3.4",
    "256.1.1.1",
    "fe80::1%eth0",
    "2001:db8::1",
    "::ffff:1.2.3.4",
    Number.MAX_SAFE_INTEGER + 2,
    { a: 1 },
    ["a", "b"],
    undefined,
  ];
  const fields = Object.keys(makeHit(0));
  let agreed = 0;
  for (let i = 0; i < 5000; i++) {
    const hit: Record<string, unknown> = makeHit(i, rand);
    const mutations = Math.floor(rand() * 3);
    for (let m = 0; m < mutations; m++) {
      const field = fields[Math.floor(rand() * fields.length)]!;
      const value = odd[Math.floor(rand() * odd.length)];
      if (value === undefined) delete hit[field];
      else hit[field] = value;
    }
    const json = JSON.parse(JSON.stringify(hit));
    const zod = hitSchema.safeParse(json).success;
    assert.equal(isValidHit(json), zod, JSON.stringify(json));
    agreed++;
  }
  assert.equal(agreed, 5000);
});

/** `sample` with `value` nested `depth` levels deep in `field` (the hit itself is level 1). */
function nested(field: string, depth: number, inner: unknown = "x"): string {
  let text = JSON.stringify(inner);
  const open = field === "tags" || field === "extra" ? ['{"k":', "}"] : ["[", "]"];
  for (let level = 2; level <= depth; level++) text = `${open[0]}${text}${open[1]}`;
  return JSON.stringify({ ...sample, [field]: "PLACEHOLDER" }).replace('"PLACEHOLDER"', text);
}

Deno.test("checkLine() rejects nesting past 64 levels in any field, at any depth, without crashing", () => {
  for (const field of ["point", "tags", "payload", "extra", "application_id"]) {
    for (const depth of [65, 1_000, 10_000, 100_000]) {
      const result = checkLine(nested(field, depth));
      assert.equal(result.ok, false, `${field} at depth ${depth}`);
      assert.equal(
        (result as { reason: string }).reason,
        "nests deeper than 64 levels of objects and arrays",
      );
    }
  }
  // 64 levels are a hit like any other.
  assert.equal(checkLine(nested("point", 64)).ok, true);
  assert.equal(checkLine(nested("tags", 64)).ok, true);
  assert.equal(checkLine(nested("extra", 64)).ok, true);
});

Deno.test("nestsDeeperThan() counts only brackets outside strings", async () => {
  const { nestsDeeperThan } = await import("./hit.ts");
  assert.equal(nestsDeeperThan(JSON.stringify({ ...sample, uri: "[".repeat(500) }), 64), false);
  assert.equal(nestsDeeperThan(`{"a":"\\"[[[[","b":[[[]]]}`, 3), true);
  assert.equal(nestsDeeperThan(`{"a":"\\"[[[[","b":[[]]}`, 3), false);
  assert.equal(nestsDeeperThan("[".repeat(65), 64), true, "unclosed, still too deep");
});
