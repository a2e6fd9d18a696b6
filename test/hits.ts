/**
 * Hits in the node's export shape, for tests and benchmarks: varied values, about 530 bytes each.
 *
 * @module
 */

const ATTACKS = ["sqli", "xss", "rce", "ptrav", "xxe", "ssrf", "scanner", "brute"];
const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"];
const DOMAINS = ["shop.example.com", "api.example.com", "localhost", "admin.example.org"];
const STATUSES = ["blocked", "monitored", "passed"];

/** A deterministic pseudo-random generator (mulberry32). */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The `i`-th generated hit, as an object in the node's field order. */
export function makeHit(i: number, rand: () => number = random(i + 1)): Record<string, unknown> {
  const pick = <T>(list: T[]) => list[Math.floor(rand() * list.length)]!;
  const hex = (n: number) =>
    Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join("");
  const v6 = rand() < 0.1;
  const attack = pick(ATTACKS);
  return {
    time: String(1687241470 + Math.floor(i / 10)),
    request_id: hex(32),
    ip: v6
      ? `2001:db8::${(i % 65536).toString(16)}`
      : `10.${i % 256}.${Math.floor(i / 256) % 256}.${Math.floor(rand() * 254) + 1}`,
    datacenter: pick(["unknown", "aws", "gce", "azure"]),
    tor: rand() < 0.05 ? "exit" : "none",
    remote_country: rand() < 0.3 ? null : pick(["DE", "US", "FR", "JP", "BR"]),
    application_id: rand() < 0.5 ? [-1] : [Math.floor(rand() * 20), Math.floor(rand() * 20) + 20],
    domain: pick(DOMAINS),
    method: pick(METHODS),
    uri: `/api/v1/items/${i}?q=${attack}-${hex(8)}`,
    protocol: pick(["none", "http1", "http2"]),
    status_code: pick([200, 403, 404, 499, 500]),
    attack_type: attack,
    block_status: pick(STATUSES),
    payload: [attack === "sqli" ? "1' OR '1'='1" : `<script>${hex(6)}</script>`],
    point: rand() < 0.5 ? ["uri"] : ["post", ["json_doc", Math.floor(rand() * 3)], "hash", "q"],
    tags: {
      lom_id: Math.floor(rand() * 10),
      libproton_version: "4.4.11",
      brute_counter: hex(32),
      wallarm_mode: "monitoring",
      final_wallarm_mode: "monitoring",
    },
  };
}

/** Malformed lines of assorted kinds, `n` of them. */
export function malformedLines(n: number): string[] {
  const base = makeHit(0);
  const text = JSON.stringify(base);
  const { attack_type: _, ...missing } = base;
  const kinds = [
    text.slice(0, 120), // truncated JSON
    JSON.stringify([base]), // a JSON array
    JSON.stringify({ ...base, status_code: "abc" }), // wrong type
    JSON.stringify(missing), // a missing field
    JSON.stringify({ ...base, time: "yesterday" }), // non-numeric time
    "GET /etc/passwd HTTP/1.1 from 10.0.0.1", // plain text
    JSON.stringify({ ...base, ip: "999.1.1.1" }), // bad IP
    JSON.stringify({ ...base, application_id: ["x"] }), // wrong item type
  ];
  return Array.from({ length: n }, (_, i) => kinds[i % kinds.length]!);
}

/**
 * An input of `valid` hits with `bad` malformed lines spread through it.
 *
 * @returns The input text and the valid hit lines in order.
 */
export function mixedInput(valid: number, bad: number): { text: string; hits: string[] } {
  const hits = Array.from({ length: valid }, (_, i) => JSON.stringify(makeHit(i)));
  const badLines = malformedLines(bad);
  const lines: string[] = [];
  const every = Math.floor(valid / Math.max(1, bad));
  let b = 0;
  hits.forEach((hit, i) => {
    lines.push(hit);
    if (b < bad && (i + 1) % every === 0) lines.push(badLines[b++]!);
  });
  while (b < bad) lines.push(badLines[b++]!);
  return { text: lines.join("\n") + "\n", hits };
}

const URIS = [
  (i: number) => `/поиск/${i}?q=%27 OR 1=1 — "x"\\y\t`,
  (i: number) => `/api/v1/items/${i}?q=<script>alert("x")</script>`,
  (i: number) => `/search?q=${encodeURIComponent("' OR '1'='1")}&page=${i % 7}`,
  (i: number) => `/static/../../etc/passwd?${i}`,
  (i: number) => `/日本語/ページ/${i}`,
];
const PAYLOADS = [
  ["тест \u2028 ' OR 1=1", "<svg/onload=alert(1)>"],
  ['{"$where":"sleep(1000)"}'],
  ["../../../../etc/shadow", "\\x00\\x01"],
  ["€ € €", "emoji 😀 in a payload"],
];

/**
 * The `i`-th hit with the node's real variety: {@linkcode makeHit}'s shape (IPv6 addresses, null
 * countries, nested points), and besides: `time` as a number in 15 % of hits, non-ASCII and
 * escapes in `uri` (20 %) and `payload` (15 %), and tags that vary (extra keys, booleans, nulls;
 * 10 % with an array or an object inside, which no quick path takes).
 */
export function variedHit(i: number, rand: () => number = random(i + 1)): Record<string, unknown> {
  const hit = makeHit(i, rand);
  const r = rand();
  if (r < 0.15) hit.time = Number(hit.time);
  if (rand() < 0.2) hit.uri = URIS[Math.floor(rand() * URIS.length)]!(i);
  if (rand() < 0.15) hit.payload = PAYLOADS[Math.floor(rand() * PAYLOADS.length)]!;
  const tags = hit.tags as Record<string, unknown>;
  const t = rand();
  if (t < 0.2) tags.ruleset_id = Math.floor(rand() * 100_000);
  else if (t < 0.3) tags.blocked_by_acl = rand() < 0.5;
  else if (t < 0.35) tags.experimental = null;
  else if (t < 0.4) tags.lom_ids = [1, 2, 3];
  else if (t < 0.45) tags.detection = { engine: "libproton", score: 9 };
  return hit;
}
