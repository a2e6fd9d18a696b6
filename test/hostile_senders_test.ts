/**
 * Hostile senders against the real CLI, one test per row of what they tried: gzip bombs on either
 * input, millions of invalid lines in a few kilobytes, a PackedForward of zero bytes, hundreds of
 * stalled Forward connections, slow HTTP bodies, ambiguous HTTP framing, and the edge cases of
 * hits and records. Each bounds time and memory (peak RSS from /proc, generous: the machine is
 * noisy), and where a good client sends meanwhile, its hits all arrive exactly once.
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { Packr } from "msgpackr";
import {
  collectLog,
  forwardConnection,
  freePort,
  listening,
  peakRssMiB,
  spawnCli,
  statusIn,
  until,
  writeConfig,
} from "./helpers.ts";
import { makeHit } from "./hits.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const packr = new Packr({ useRecords: false });
const MIB = 1024 * 1024;

/** hitship with an http and a forward input into a jsonl file output, both listening. */
async function start(http = "") {
  const dir = await Deno.makeTempDir();
  const httpPort = freePort();
  const forwardPort = freePort();
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
status_file: ${dir}/status.json
inputs:
  - { type: http, listen: "127.0.0.1:${httpPort}"${http} }
  - { type: forward, listen: "127.0.0.1:${forwardPort}" }
outputs: [{ name: local, type: file, path: ${dir}/out, format: jsonl, interval: 1h }]
`,
  );
  const child = spawnCli(["run", "--config", config]);
  child.stdin.close();
  const log = collectLog(child.stderr);
  await listening(httpPort);
  await listening(forwardPort);
  const url = `http://127.0.0.1:${httpPort}`;
  return {
    dir,
    httpPort,
    forwardPort,
    url,
    child,
    log,
    /** Stops hitship (SIGTERM, exit 0) and gives every hit it shipped, as JSON text. */
    async stop(): Promise<string[]> {
      child.kill("SIGTERM");
      const { code } = await child.status;
      await log.done;
      assert.equal(code, 0, log.text().slice(-2000));
      const lines: string[] = [];
      let files: Deno.DirEntry[] = [];
      try {
        files = [...Deno.readDirSync(`${dir}/out`)];
      } catch {
        // nothing shipped
      }
      for (const entry of files) {
        if (entry.name.startsWith(".")) continue;
        const text = await Deno.readTextFile(`${dir}/out/${entry.name}`);
        lines.push(...text.split("\n").filter((l) => l !== ""));
      }
      await Deno.remove(dir, { recursive: true });
      return lines;
    },
  };
}

/** `members` gzip members of 16 MiB of zeros: 64 of them unpack to 1 GiB, from about 1 MB. */
function gzipBomb(members: number): Uint8Array<ArrayBuffer> {
  const member = new Uint8Array(gzipSync(new Uint8Array(16 * MIB), { level: 9 }));
  const out = new Uint8Array(member.length * members);
  for (let i = 0; i < members; i++) out.set(member, i * member.length);
  return out;
}

/** A hit as the node writes it, numbered. */
const hitLine = (i: number) => JSON.stringify(makeHit(i));

/**
 * A good client that sends one hit at a time, in turn with its answer, until stopped: the
 * latency of each, and the hits it had acknowledged.
 */
function goodClient(send: (line: string, i: number) => Promise<void>, first: number) {
  const latencies: number[] = [];
  const sent: string[] = [];
  let stopped = false;
  const running = (async () => {
    for (let i = first; !stopped; i++) {
      const line = hitLine(i);
      const t0 = performance.now();
      await send(line, i);
      latencies.push(performance.now() - t0);
      sent.push(line);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await running;
      return { latencies, sent, worst: Math.max(...latencies) };
    },
  };
}

/** A good Forward sender: each hit a Message with a chunk, sent when the last was acked. */
async function goodForward(port: number, first: number) {
  const conn = await forwardConnection(port);
  const client = goodClient(async (line, i) => {
    await conn.send(packr.pack(["wallarm.hits", 1, JSON.parse(line), { chunk: `c${i}` }]));
    assert.deepEqual(await conn.read(), { ack: `c${i}` });
  }, first);
  return {
    async stop() {
      const result = await client.stop();
      conn.close();
      return result;
    },
  };
}

/** A good HTTP sender: each hit one POST. */
function goodHttp(url: string, first: number) {
  return goodClient(async (line) => {
    const answer = await fetch(`${url}/hits`, { method: "POST", body: line });
    const text = await answer.text();
    assert.equal(answer.status, 200, text);
  }, first);
}

Deno.test("hostile: 1 GiB gzip bombs on the http input, three at once, are answered 413 within 2 s; a Forward client keeps under 1 s", async () => {
  const h = await start();
  const good = await goodForward(h.forwardPort, 0);
  await new Promise((r) => setTimeout(r, 200));
  const bomb = gzipBomb(64);
  const answers = await Promise.all([0, 1, 2].map(async () => {
    const t0 = performance.now();
    const answer = await fetch(`${h.url}/hits`, {
      method: "POST",
      body: bomb,
      headers: { "content-encoding": "gzip", "content-type": "application/x-ndjson" },
    });
    return { status: answer.status, text: await answer.text(), ms: performance.now() - t0 };
  }));
  await new Promise((r) => setTimeout(r, 200));
  const { latencies, sent, worst } = await good.stop();
  const peak = peakRssMiB(h.child.pid);
  console.log(
    `bombs of ${bomb.length} bytes answered in ${answers.map((a) => Math.round(a.ms))} ms; ` +
      `peak RSS ${Math.round(peak)} MiB; the Forward client's worst of ${latencies.length}: ` +
      `${Math.round(worst)} ms`,
  );
  for (const answer of answers) {
    assert.equal(answer.status, 413);
    assert.match(answer.text, /unpacks past max_body_bytes \(16777216 bytes\)/);
    assert.ok(answer.ms <= 2000, `answered in ${answer.ms} ms`);
  }
  assert.ok(worst <= 1000, `the good client waited ${worst} ms`);
  assert.ok(peak <= 250, `peak RSS ${peak} MiB`);
  assert.deepEqual((await h.stop()).toSorted(), sent.toSorted());
});

Deno.test("hostile: 1 GiB CompressedPackedForward bombs, three at once, close their connections within 2 s; an HTTP client keeps under 1 s", async () => {
  const h = await start();
  const good = goodHttp(h.url, 0);
  await new Promise((r) => setTimeout(r, 200));
  const bomb = gzipBomb(64);
  const closed = await Promise.all([0, 1, 2].map(async (i) => {
    const conn = await forwardConnection(h.forwardPort);
    const t0 = performance.now();
    await conn.send(packr.pack(["wallarm.hits", bomb, { compressed: "gzip", chunk: `b${i}` }]));
    const answer = await conn.read();
    conn.close();
    return { answer, ms: performance.now() - t0 };
  }));
  await new Promise((r) => setTimeout(r, 200));
  const { latencies, sent, worst } = await good.stop();
  const peak = peakRssMiB(h.child.pid);
  console.log(
    `bombs closed in ${closed.map((c) => Math.round(c.ms))} ms; peak RSS ${Math.round(peak)} ` +
      `MiB; the HTTP client's worst of ${latencies.length}: ${Math.round(worst)} ms`,
  );
  for (const { answer, ms } of closed) {
    assert.equal(answer, null, "closed, never acknowledged");
    assert.ok(ms <= 2000, `closed in ${ms} ms`);
  }
  await until(
    "the reason logged",
    () => h.log.logged(/unpacks past max_message_bytes \(16777216 bytes\)/),
  );
  assert.ok(worst <= 1000, `the good client waited ${worst} ms`);
  assert.ok(peak <= 250, `peak RSS ${peak} MiB`);
  assert.deepEqual((await h.stop()).toSorted(), sent.toSorted());
});

Deno.test("hostile: 5.6 M invalid lines in 16 KB of gzip, and a 1 MiB PackedForward of zero bytes: bounded time, memory and dead letters; /health answers throughout", async () => {
  const h = await start();
  // /health, every 100 ms, all along.
  let polling = true;
  let slowest = 0;
  const health = (async () => {
    while (polling) {
      const t0 = performance.now();
      const answer = await fetch(`${h.url}/health`);
      await answer.body?.cancel();
      slowest = Math.max(slowest, performance.now() - t0);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const post = async (lines: number) => {
    const body = new Uint8Array(gzipSync(enc.encode("{}\n".repeat(lines)), { level: 9 }));
    const t0 = performance.now();
    const answer = await fetch(`${h.url}/hits`, {
      method: "POST",
      body,
      headers: { "content-encoding": "gzip" },
    });
    const result = await answer.json();
    return { status: answer.status, result, ms: performance.now() - t0, packed: body.length };
  };
  const small = await post(349_525);
  assert.equal(small.status, 200);
  assert.equal(small.result.rejected, 349_525);
  assert.equal(small.result.errors.length, 10);
  const large = await post(5_592_405); // 16 MiB less a byte, unpacked
  assert.equal(large.status, 200, JSON.stringify(large.result));
  assert.equal(large.result.accepted, 0);
  assert.equal(large.result.rejected, 5_592_405);
  // A PackedForward of 1 MiB of zero bytes: a million entries that are not [time, record].
  const conn = await forwardConnection(h.forwardPort);
  const t0 = performance.now();
  await conn.send(packr.pack(["wallarm.hits", new Uint8Array(MIB), { chunk: "zeros" }]));
  assert.deepEqual(await conn.read(), { ack: "zeros" });
  const zerosMs = performance.now() - t0;
  conn.close();
  polling = false;
  await health;
  const peak = peakRssMiB(h.child.pid);
  console.log(
    `349,525 lines (${small.packed} bytes packed) in ${Math.round(small.ms)} ms; 5,592,405 ` +
      `(${large.packed} bytes) in ${Math.round(large.ms)} ms; 1 MiB of zeros in ` +
      `${Math.round(zerosMs)} ms; /health at worst ${Math.round(slowest)} ms; peak RSS ` +
      `${Math.round(peak)} MiB`,
  );
  assert.ok(large.ms <= 30_000, `5.6 M lines took ${large.ms} ms`);
  assert.ok(slowest <= 1000, `/health took ${slowest} ms`);
  assert.ok(peak <= 250, `peak RSS ${peak} MiB`);
  await until(
    "counted",
    async () => (await statusIn(h.dir))?.input?.rejected === 349_525 + 5_592_405 + MIB,
  );
  // The dead letters: the first 100 of each body with their reasons, then one summary record.
  const deadLetters = (await Deno.readTextFile(`${h.dir}/data/dead-letter.ndjson`)).trim()
    .split("\n").map((l) => JSON.parse(l));
  assert.ok((await Deno.stat(`${h.dir}/data/dead-letter.ndjson`)).size <= 16 * MIB);
  const summaries = deadLetters.filter((d) => d.count !== undefined);
  assert.equal(deadLetters.length, 3 * 101);
  assert.deepEqual(summaries.map((d) => d.count), [349_425, 5_592_305, MIB - 100]);
  assert.match(summaries[0].reason, /349425 more rejected lines of this body, from line 101/);
  assert.match(summaries[2].reason, /an entry that is not \[time, record\]/);
  assert.deepEqual(await h.stop(), []);
});

Deno.test("hostile: 300 Forward connections that send half a message and stall do not lock out a good acked client", async () => {
  const h = await start();
  const half = packr.pack(["wallarm.hits", 1, makeHit(0), { chunk: "never" }]).subarray(0, 100);
  const stalled = await Promise.all(Array.from({ length: 300 }, async () => {
    try {
      const conn = await forwardConnection(h.forwardPort);
      await conn.send(half).catch(() => {});
      return conn;
    } catch {
      return undefined;
    }
  }));
  assert.ok(stalled.filter(Boolean).length >= 256, "the stalled connections fill every slot");
  // The good client sends as Fluent Bit does: one message at a time, each resent on a new
  // connection until it is acknowledged (a connection refused or closed is tried again).
  const hits = Array.from({ length: 100 }, (_, i) => makeHit(1000 + i));
  const t0 = performance.now();
  let conn = await forwardConnection(h.forwardPort);
  let reconnects = 0;
  for (const [i, hit] of hits.entries()) {
    for (;;) {
      await conn.send(packr.pack(["wallarm.hits", 1, hit, { chunk: `g${i}` }])).catch(() => {});
      const answer = await conn.read();
      if (answer !== null) {
        assert.deepEqual(answer, { ack: `g${i}` });
        break;
      }
      conn.close();
      reconnects++;
      await new Promise((r) => setTimeout(r, 100));
      conn = await forwardConnection(h.forwardPort);
    }
  }
  conn.close();
  const ms = performance.now() - t0;
  console.log(
    `100 of 100 acked beside 300 stalled connections in ${Math.round(ms)} ms ` +
      `(${reconnects} connections refused or closed first)`,
  );
  assert.ok(ms < 10_000, "delivered while the stalled connections still stall");
  for (const conn of stalled) conn?.close();
  const shipped = (await h.stop()).map((l) => JSON.parse(l));
  assert.deepEqual(
    shipped.map((hit) => JSON.stringify(hit)).toSorted(),
    hits.map((hit) => JSON.stringify(hit)).toSorted(),
  );
});

Deno.test("hostile: slow HTTP bodies cannot hold the budget, and a wrong token is refused before the body", async () => {
  const h = await start(', auth_token: "s3cret"');
  // Two senders with the token announce 16 MiB each, then trickle a byte a second.
  const slow = await Promise.all([0, 1].map(async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: h.httpPort });
    await conn.write(enc.encode(
      "POST /hits HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n" +
        "Content-Length: 16777216\r\n\r\n{",
    ));
    return conn;
  }));
  let trickling = true;
  const trickle = (async () => {
    while (trickling) {
      await new Promise((r) => setTimeout(r, 1000));
      for (const conn of slow) await conn.write(enc.encode(" ")).catch(() => {});
    }
  })();
  const statuses: number[] = [];
  const sent: string[] = [];
  for (let i = 0; i < 40; i++) {
    const line = hitLine(i);
    const answer = await fetch(`${h.url}/hits`, {
      method: "POST",
      body: line,
      headers: { authorization: "Bearer s3cret" },
    });
    statuses.push(answer.status);
    await answer.body?.cancel();
    if (answer.status === 200) sent.push(line);
  }
  assert.deepEqual(statuses, Array(40).fill(200), "none answered 503");
  // Without the token: 401 from the head, at once, the 16 MiB never read.
  for (const auth of ["", "Authorization: Bearer wrong\r\n"]) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: h.httpPort });
    const t0 = performance.now();
    await conn.write(
      enc.encode(`POST /hits HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 16777216\r\n\r\n`),
    );
    const answer = await readToClose(conn);
    assert.match(answer, /^HTTP\/1\.1 401 [\s\S]*connection: close/);
    assert.ok(performance.now() - t0 < 1000);
  }
  trickling = false;
  await trickle;
  for (const conn of slow) conn.close();
  assert.deepEqual((await h.stop()).toSorted(), sent.toSorted());
});

/** Reads an answer until the server closes the connection (30 s at most: then it fails). */
async function readToClose(conn: Deno.Conn): Promise<string> {
  let text = "";
  const buffer = new Uint8Array(4096);
  const timer = setTimeout(() => conn.close(), 30_000);
  try {
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      text += dec.decode(buffer.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
  conn.close();
  return text;
}

Deno.test("hostile: ambiguous or malformed HTTP framing is answered 400 or 501 at once and the connection closed", async () => {
  const h = await start();
  const hit = hitLine(7);
  const head = "POST /hits HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n";
  const length = `${hit.length + 1}`;
  const chunked = `${(hit.length + 1).toString(16)}\r\n${hit}\n\r\n0\r\n\r\n`;
  const cases: Array<[string, string, number]> = [
    [
      "Content-Length and Transfer-Encoding, a second request smuggled after",
      `${head}Content-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n` +
      "GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
      400,
    ],
    ["Transfer-Encoding: xchunked", `${head}Transfer-Encoding: xchunked\r\n\r\n${chunked}`, 400],
    ["gzip, chunked", `${head}Transfer-Encoding: gzip, chunked\r\n\r\n${chunked}`, 501],
    ["chunked, identity", `${head}Transfer-Encoding: chunked, identity\r\n\r\n${chunked}`, 400],
    ...["+", "0x", "."].map((p): [string, string, number] => [
      `Content-Length: ${p === "." ? length + ".0" : p + length}`,
      `${head}Content-Length: ${p === "." ? length + ".0" : p + length}\r\n\r\n${hit}\n`,
      400,
    ]),
    ["Content-Length: 38e1", `${head}Content-Length: 38e1\r\n\r\n${hit}\n`, 400],
    ["Content-Length: (empty)", `${head}Content-Length: \r\n\r\n${hit}\n`, 400],
    ["Content-Length : n", `${head}Content-Length : ${length}\r\n\r\n${hit}\n`, 400],
    ["chunk size 0x", `${head}Transfer-Encoding: chunked\r\n\r\n0x${chunked}`, 400],
    ["chunk size 5zz", `${head}Transfer-Encoding: chunked\r\n\r\n5zz\r\n{"a":\r\n0\r\n\r\n`, 400],
    [
      "chunk data followed by XX",
      `${head}Transfer-Encoding: chunked\r\n\r\n${chunked.replace(`${hit}\n\r\n`, `${hit}\nXX`)}`,
      400,
    ],
    [
      "bare LF line ends",
      `POST /hits HTTP/1.1\nHost: x\nContent-Length: ${length}\n\n${hit}\n`,
      400,
    ],
  ];
  for (const [what, request, status] of cases) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: h.httpPort });
    const t0 = performance.now();
    await conn.write(enc.encode(request));
    const answer = await readToClose(conn);
    const ms = performance.now() - t0;
    assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), `${what}: ${answer}`);
    assert.equal(answer.match(/HTTP\/1\.1 /g)?.length, 1, `${what}: one answer, nothing smuggled`);
    assert.match(answer, /connection: close/, what);
    assert.ok(ms < 1000, `${what}: answered in ${ms} ms`);
  }
  assert.deepEqual(await h.stop(), [], "nothing of them journaled");
});

Deno.test("hostile: the edges of hits and records: a good message before a broken one, gzip members, EventTime, I-JSON", async () => {
  const h = await start();
  // A valid message without an ack option, then a malformed one, in one write: the valid is kept.
  const conn = await forwardConnection(h.forwardPort);
  const valid = makeHit(1);
  await conn.send(
    new Uint8Array([
      ...packr.pack(["wallarm.hits", 1, valid]),
      0x93,
      0xa3,
      0x61,
      0x62,
      0x63,
      0xc1,
    ]),
  );
  assert.equal(await conn.read(), null, "the connection is closed for the malformed one");
  conn.close();
  await until("the reason logged", () => h.log.logged(/malformed msgpack: 0xc1/));
  // Two concatenated gzip members.
  const members = new Uint8Array([
    ...gzipSync(enc.encode(hitLine(2) + "\n")),
    ...gzipSync(enc.encode(hitLine(3) + "\n")),
  ]);
  const answer = await fetch(`${h.url}/hits`, {
    method: "POST",
    body: members,
    headers: { "content-encoding": "gzip" },
  });
  assert.deepEqual(await answer.json(), { accepted: 2, rejected: 0, errors: [] });
  // An EventTime as a record value keeps its nanoseconds.
  const eventTime = new Uint8Array(10);
  eventTime.set([0xd7, 0x00]);
  new DataView(eventTime.buffer).setUint32(2, 1687247390);
  new DataView(eventTime.buffer).setUint32(6, 999_999_999);
  const marker = "@@event-time@@"; // packed as a fixstr: 0xa0 | 14, then its bytes
  const withTime = packr.pack(["wallarm.hits", 1, { ...makeHit(4), tags: { seen: marker } }, {
    chunk: "t",
  }]);
  const packed = [0xa0 | marker.length, ...enc.encode(marker)];
  const at = withTime.findIndex((_, i) => packed.every((b, k) => withTime[i + k] === b));
  const record = new Uint8Array([
    ...withTime.subarray(0, at),
    ...eventTime,
    ...withTime.subarray(at + packed.length),
  ]);
  const timed = await forwardConnection(h.forwardPort);
  await timed.send(record);
  assert.deepEqual(await timed.read(), { ack: "t" });
  timed.close();
  // A lone surrogate and a number beyond a double are not I-JSON: rejected, with the reason.
  const loneSurrogate = hitLine(5).replace('"uri":"', '"uri":"\\ud800');
  const huge = hitLine(6).replace('"tags":{', '"tags":{"n":1e400,');
  const rejected = await fetch(`${h.url}/hits`, {
    method: "POST",
    body: `${loneSurrogate}\n${huge}\n`,
  });
  assert.deepEqual(await rejected.json(), {
    accepted: 0,
    rejected: 2,
    errors: [
      { line: 1, reason: "uri: a string holds a lone UTF-16 surrogate (not I-JSON, RFC 7493)" },
      { line: 2, reason: "tags.n: a number beyond the range of a double (not I-JSON, RFC 7493)" },
    ],
  });
  const shipped = await h.stop();
  assert.equal(shipped.length, 4);
  assert.deepEqual(JSON.parse(shipped[0]!), valid);
  assert.deepEqual(shipped.slice(1, 3), [hitLine(2), hitLine(3)]);
  assert.match(shipped[3]!, /"tags":\{"seen":1687247390\.999999999\}/);
});
