import assert from "node:assert/strict";
import { checkLine } from "./hit.ts";
import { makeHit } from "../../test/hits.ts";

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

Deno.test("checkLine() rejects a key that appears twice in one object, and names it", () => {
  const valid = JSON.stringify(sample);
  // The issue's own case: a reader keeping the first status_code would see "abc".
  const twice = `{"status_code":"abc",${valid.slice(1)}`;
  assert.equal(reason(twice), "status_code: appears twice in one object");
  const nested = valid.replace(`"lom_id":7`, `"lom_id":7, "lom_id" : 8`);
  assert.equal(reason(nested), "tags.lom_id: appears twice in one object");
  const escaped = valid.replace(`"ip":`, `"\\u0069p":"10.0.0.1","ip":`);
  assert.equal(reason(escaped), "ip: appears twice in one object");
  const inArray = valid.replace(`"point":["uri"]`, `"point":["uri",{"a":1,"a":2}]`);
  assert.equal(reason(inArray), "point[1].a: appears twice in one object");
  // One name in different objects, and colons that only look like key ends, are fine.
  for (
    const ok of [
      valid.replace(`"lom_id":7`, `"lom_id":7,"ip":"x","status_code":"y"`),
      valid.replace(`"uri":"/etc/passwd"`, `"uri":":8080\\": :"`),
      valid.replace(`"domain":"localhost"`, `"domain":" : ","x":"\\\\" , "y" :1`),
    ]
  ) {
    assert.equal(checkLine(ok).ok, true, ok);
  }
});

Deno.test("duplicateKey() finds exactly the objects with a repeated key (property test)", async () => {
  const { duplicateKey, parseJson } = await import("./hit.ts");
  let seed = 7;
  const rand = (n: number) => { // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
  const keys = ["a", "b", "\\u0061", ":", "\\\\", '\\"', " x", "__proto__"];
  const decoded = (k: string) => JSON.parse(`"${k}"`) as string;
  const strings = ['":"', ":", " : ", '\\" :', "\\\\", "a:b"];
  // Writes a random value; returns whether some object in it repeats a key.
  const value = (depth: number): [string, boolean] => {
    const kind = depth > 3 ? 0 : rand(4);
    if (kind === 0) return [JSON.stringify(strings[rand(strings.length)]), false];
    if (kind === 1) return [String(rand(100)), false];
    const n = rand(4);
    const parts: string[] = [];
    let repeated = false;
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const [text, inner] = value(depth + 1);
      repeated ||= inner;
      if (kind === 2) {
        parts.push(text);
        continue;
      }
      const key = keys[rand(keys.length)]!;
      if (seen.has(decoded(key))) repeated = true;
      seen.add(decoded(key));
      parts.push(`"${key}"${[":", " : ", "\n:"][rand(3)]}${text}`);
    }
    return kind === 2 ? [`[${parts.join(",")}]`, repeated] : [`{${parts.join(" , ")}}`, repeated];
  };
  let both = 0;
  for (let i = 0; i < 20_000; i++) {
    const [text, repeated] = value(0);
    const found = duplicateKey(text, parseJson(text));
    assert.equal(found !== undefined, repeated, `${JSON.stringify(text)} ${found}`);
    if (repeated) both++;
  }
  assert.ok(both > 1000, `${both} with a repeated key`);
});

Deno.test("parseJson() reads keys that end in an escape right where JSON.parse does not", async () => {
  const { parseJson } = await import("./hit.ts");
  const escapes = ["\\\\", '\\"', "\\n", "\\/", "\\u0041", "\\u00e9", "\\ud83d\\ude00", "x"];
  let n = 0;
  for (const a of escapes) {
    for (const b of escapes) {
      for (const prefix of ["", "k"]) {
        n++;
        // A key ending in a backslash first, in the same place, then a key ending in an escape.
        parseJson(`{"p${n}":1,"${prefix}${a}":2}`);
        const key = `${prefix}${b}`;
        const value = parseJson(`{"p${n}":1,"${key}":{"${key}":[3]}}`) as Record<string, unknown>;
        const want = JSON.parse(`"${key}"`);
        assert.deepEqual(Object.keys(value), [`p${n}`, want], key);
        assert.deepEqual(value[want], { [want]: [3] });
      }
    }
  }
  const proto = parseJson('{"\\\\":1,"__proto__":{"x":1}}') as Record<string, unknown>;
  assert.deepEqual(Object.keys(proto), ["\\", "__proto__"], "__proto__ stays an own key");
  assert.equal(Object.getPrototypeOf(proto), Object.prototype);
});

Deno.test("checkLine() takes a valid hit written with an escaped key after a hostile line", () => {
  const valid = JSON.stringify(sample);
  // The hostile line has a key ending in a backslash where the next line has "ip".
  const hostile = valid.replace(`"ip":`, `"i\\\\":`);
  assert.match(reason(hostile), /^ip: is required/);
  const escaped = valid.replace(`"ip":`, `"i\\u0070":`);
  const result = checkLine(escaped);
  assert.equal(result.ok, true, JSON.stringify(result));
  assert.equal((result as { hit: { ip: string } }).hit.ip, "127.0.0.1");
});

Deno.test("checkLine() takes I-JSON only: a lone surrogate or a number beyond a double is rejected with its place", () => {
  const hit = JSON.stringify(makeHit(1));
  const withUri = (uri: string) => hit.replace(/"uri":"[^"]*"/, `"uri":"${uri}"`);
  const reject = (line: string, reason: RegExp) => {
    const result = checkLine(line);
    assert.equal(result.ok, false, line);
    if (!result.ok) assert.match(result.reason, reason);
  };
  reject(withUri("/a\\ud800"), /^uri: a string holds a lone UTF-16 surrogate \(not I-JSON/);
  reject(withUri("/a\\uDC00\\uD800"), /^uri: a string holds a lone UTF-16 surrogate/);
  reject(withUri("\\uD83D\\u0041"), /^uri: a string holds a lone UTF-16 surrogate/);
  reject(
    hit.replace('"tags":{', '"tags":{"n":1e400,'),
    /^tags\.n: a number beyond the range of a double/,
  );
  reject(hit.replace('"tags":{', '"tags":{"n":[-1E+0309],'), /^tags\.n\[0\]: a number beyond/);
  reject(hit.slice(0, -1) + ',"x":{"\\udfff":1}}', /^x: a key holds a lone UTF-16 surrogate/);
  reject('{"\\udfff":1,' + hit.slice(1), /^the hit: a key holds a lone UTF-16 surrogate/);
  // A pair is one character; a tiny number is a zero; digits in strings are text.
  assert.ok(checkLine(withUri("/\\ud83d\\ude00")).ok);
  assert.ok(checkLine(hit.replace('"tags":{', '"tags":{"n":1e-400,"m":1.5e300,')).ok);
  assert.ok(checkLine(withUri("/e1000" + "9".repeat(400))).ok);
});
