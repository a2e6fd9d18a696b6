/**
 * The `forward` input end to end, with the Fluentd organisation's Forward client
 * (`@fluent-org/logger`) as the sender: every mode with and without acks, the shared-key handshake
 * over TLS, a hitship killed with kill -9 before it acknowledges (the client sends again, nothing is
 * lost), and hostile connections closed with a logged reason while others go on.
 */
import assert from "node:assert/strict";
import { type EventModes, FluentClient, FluentSocketEvent } from "@fluent-org/logger";
import { Packr } from "msgpackr";
import {
  collectLog,
  forwardConnection,
  freePort,
  listening,
  makeTestCertificate,
  readExports,
  spawnCli,
  statusIn,
  until,
  writeConfig,
} from "./helpers.ts";
import { makeHit } from "./hits.ts";
import { startReceiver } from "./receiver.ts";

const dec = new TextDecoder();
const packr = new Packr({ useRecords: false });

const sorted = (values: unknown[]) => values.map((v) => JSON.stringify(v)).toSorted();

/** hitship with a forward input (`options` added to its fields) into a `file` output, listening. */
async function forwardToFile(options: string) {
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
input: { type: forward, listen: "127.0.0.1:${port}"${options} }
outputs: [{ name: local, type: file, path: ${dir}/out, interval: 1h }]
`,
  );
  const child = spawnCli(["run", "--config", config]);
  child.stdin.close();
  await listening(port);
  return { dir, port, child };
}

Deno.test("forward input: @fluent-org/logger in every mode, with and without acks: each hit arrives once, JSON-equal", async () => {
  const { dir, port, child } = await forwardToFile(', tags: ["wallarm.*"]');
  const modes: EventModes[] = ["Message", "Forward", "PackedForward", "CompressedPackedForward"];
  const sent: Array<Record<string, unknown>> = [];
  const bySender: Array<Array<Record<string, unknown>>> = [];
  let n = 0;
  for (const mode of modes) {
    for (const ack of [true, false]) {
      const client = new FluentClient("wallarm", {
        eventMode: mode,
        milliseconds: ack, // EventTime times half of the time, integer seconds otherwise
        socket: { host: "127.0.0.1", port, timeout: 30_000 },
        ...(ack ? { ack: { ackTimeout: 30_000 } } : {}),
      });
      const hits = Array.from({ length: 50 }, () => makeHit(n++));
      await Promise.all(hits.map((hit) => client.emit("hits", hit)));
      await client.disconnect();
      sent.push(...hits);
      bySender.push(hits);
    }
  }
  // Another tag: acknowledged, and left out by the input's tags.
  const other = new FluentClient("other", {
    socket: { host: "127.0.0.1", port },
    ack: { ackTimeout: 30_000 },
  });
  await Promise.all(Array.from({ length: 10 }, (_, i) => other.emit("x", makeHit(10_000 + i))));
  await other.disconnect();
  await until("every hit read", async () => (await statusIn(`${dir}/data`))?.input?.hits === 400);
  child.kill("SIGTERM");
  const out = await child.output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  const shipped = await readExports(`${dir}/out`) as Array<Record<string, unknown>>;
  assert.equal(shipped.length, 400);
  assert.deepEqual(sorted(shipped), sorted(sent), "every hit once, JSON-equal");
  // In order within each sender.
  const index = new Map(shipped.map((hit, i) => [JSON.stringify(hit), i]));
  for (const hits of bySender) {
    const at = hits.map((hit) => index.get(JSON.stringify(hit))!);
    assert.deepEqual(at, at.toSorted((a, b) => a - b));
  }
  const status = await statusIn(`${dir}/data`);
  assert.deepEqual([status.inputs.input.type, status.inputs.input.rejected], ["forward", 0]);
});

Deno.test("forward input: shared_key over TLS: the right key delivers; a wrong key, no PING and no CA are refused", async () => {
  const dir = await Deno.makeTempDir();
  const tls = await makeTestCertificate(dir);
  const port = freePort();
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
input:
  type: forward
  listen: "127.0.0.1:${port}"
  shared_key: \${FORWARD_KEY}
  handshake_timeout: 300ms
  tls: { cert_file: ${tls.cert}, key_file: ${tls.key} }
outputs: [{ name: local, type: file, path: ${dir}/out, interval: 1h }]
`,
  );
  const child = spawnCli(["run", "--config", config], { env: { FORWARD_KEY: "k3y-of-the-site" } });
  child.stdin.close();
  const stderr = collectLog(child.stderr);
  await listening(port);
  const ca = await Deno.readTextFile(tls.ca);
  const client = (sharedKey: string, hostname: string, withCa = true) =>
    new FluentClient("wallarm", {
      socket: {
        host: "127.0.0.1",
        port,
        tls: withCa ? { ca } : {},
      },
      security: { clientHostname: hostname, sharedKey },
      ack: { ackTimeout: 30_000 },
    });
  const good = client("k3y-of-the-site", "node-1");
  const hits = Array.from({ length: 30 }, (_, i) => makeHit(i));
  await Promise.all(hits.map((hit) => good.emit("hits", hit)));
  await good.disconnect();

  const wrong = client("guessed", "node-2");
  wrong.socketOn(FluentSocketEvent.ERROR, () => {});
  const refused = wrong.emit("hits", makeHit(99)).then(() => "acked", () => "failed");
  await until(
    "the wrong key refused",
    () => stderr.logged(/a wrong shared key from "node-2"/),
  );
  await wrong.shutdown().catch(() => {});
  assert.equal(await refused, "failed");

  const untrusting = client("k3y-of-the-site", "node-3", false);
  untrusting.socketOn(FluentSocketEvent.ERROR, () => {});
  const unverified = untrusting.emit("hits", makeHit(98)).then(() => "acked", () => "failed");
  await untrusting.shutdown().catch(() => {});
  assert.equal(await unverified, "failed", "the client does not trust a server it cannot verify");

  // A connection that never sends its PING is closed once handshake_timeout passes.
  const silent = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [ca] });
  const helo = new Uint8Array(1024);
  assert.ok((await silent.read(helo)) !== null, "a HELO first");
  await until("the silent one closed", () => stderr.logged(/no PING in time/));
  silent.close();

  await until("read", async () => (await statusIn(`${dir}/data`))?.input?.hits === 30);
  child.kill("SIGTERM");
  assert.equal((await child.status).code, 0);
  await stderr.done;
  assert.deepEqual(sorted(await readExports(`${dir}/out`)), sorted(hits));
  assert.ok(!stderr.text().includes("k3y-of-the-site"), "the key is never logged");
});

Deno.test("forward input: killed with kill -9 before it acknowledges, the client sends again and nothing is lost", async () => {
  const dir = await Deno.makeTempDir();
  const port = freePort();
  await using receiver = await startReceiver();
  let open = false;
  receiver.behave(() => (open ? "accept" : "error"));
  // A small journal and a destination that is down: the journal fills, acks stop.
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
max_journal_bytes: 64KiB
journal_segment_bytes: 16KiB
input: { type: forward, listen: "127.0.0.1:${port}" }
outputs:
  - name: soar
    type: insightconnect
    api_url: ${receiver.url}
    api_key: ${receiver.key}
    max_hits_per_request: 100
    retry: { cycles: [[100ms]], then_every: 100ms }
    auto_disable: { min_requests: 100000 }
`,
  );
  let child = spawnCli(["run", "--config", config]);
  child.stdin.close();
  await listening(port);
  const client = new FluentClient("wallarm", {
    eventMode: "PackedForward",
    socket: {
      host: "127.0.0.1",
      port,
      reconnect: { delay: 100, minDelay: 100, maxDelay: 300, backoff: 1 },
    },
    ack: { ackTimeout: 2_000 },
    eventRetry: { attempts: 1_000, delay: 200, backoff: 1, maxDelay: 500 },
  });
  client.socketOn(FluentSocketEvent.ERROR, () => {});
  const sent: Array<Record<string, unknown>> = [];
  const acked = new Set<number>();
  const emits: Array<Promise<void>> = [];
  let n = 0;
  // Batches until one is not acknowledged: its hits wait for room in the journal.
  for (let batch = 0; batch < 100; batch++) {
    const start = n;
    for (let i = 0; i < 20; i++) {
      const hit = makeHit(n);
      const k = n++;
      sent.push(hit);
      emits.push(client.emit("hits", hit).then(() => void acked.add(k)));
    }
    const done = Promise.all(emits.slice(start));
    const late = new Promise((r) => setTimeout(() => r("late"), 4_000));
    if (await Promise.race([done, late]) === "late") break;
  }
  const unacked = sent.length - acked.size;
  assert.ok(unacked > 0, "some hits wait for their ack");
  const ackedBeforeKill = new Set(acked);
  child.kill("SIGKILL");
  await child.status;
  open = true; // the destination is back
  child = spawnCli(["run", "--config", config]);
  child.stdin.close();
  // Hits the receiver took, as JSON text (system events left out).
  // A hit that goes alone is in details.hit, hits sent together in details.hits.
  const delivered = () => receiver.delivered().map((h) => JSON.stringify(h));
  await Promise.all(emits); // the client sends what was not acknowledged again, until it is
  await client.disconnect();
  await until(
    "all delivered",
    () => new Set(delivered()).size === sent.length,
  );
  child.kill("SIGTERM");
  assert.equal((await child.status).code, 0);
  // Nothing lost; an acknowledged hit arrives exactly once (one sent again may twice: at least once).
  assert.deepEqual(new Set(delivered()), new Set(sent.map((h) => JSON.stringify(h))));
  const counts = new Map<string, number>();
  for (const h of delivered()) counts.set(h, (counts.get(h) ?? 0) + 1);
  for (const k of ackedBeforeKill) assert.equal(counts.get(JSON.stringify(sent[k])), 1);
  await child.output().catch(() => {});
});

/** A raw connection: bytes sent as they are, and what the server answers (null once it closes). */
Deno.test("forward input: malformed msgpack, an unknown mode and a message over the limit close that connection with a reason; bad records are rejected; others go on", async () => {
  const { dir, port, child } = await forwardToFile(", max_message_bytes: 2KiB");
  const stderr = collectLog(child.stderr);
  const client = new FluentClient("wallarm", {
    eventMode: "Message",
    socket: { host: "127.0.0.1", port },
    ack: { ackTimeout: 30_000 },
  });
  const hits = Array.from({ length: 20 }, (_, i) => makeHit(i));
  const sending = Promise.all(hits.map((hit) => client.emit("hits", hit)));

  const cases: Array<[string, Uint8Array, RegExp]> = [
    ["malformed", new Uint8Array([0x93, 0xa3, 0x61, 0x62, 0x63, 0xc1]), /malformed msgpack: 0xc1/],
    ["unknown mode", packr.pack(["wallarm.hits", true, {}]), /unknown mode/],
    [
      "over the limit",
      packr.pack(["wallarm.hits", 1, { pad: "x".repeat(4096) }]),
      /larger than 2048/,
    ],
    ["not a message", packr.pack({ tag: "x" }), /not \[tag, \.\.\.\]/],
    ["nested past 512", new Uint8Array(600).fill(0x91), /nests deeper than 512 levels/],
  ];
  for (const [what, bytes, reason] of cases) {
    const raw = await forwardConnection(port);
    await raw.send(bytes);
    assert.equal(await raw.read(), null, `${what}: the connection is closed`);
    raw.close();
    await until(`${what} logged`, () => stderr.logged(reason));
  }
  // Records that are not hits, or nest too deep, are rejected; the connection goes on.
  const raw = await forwardConnection(port);
  let deep: unknown = 1;
  for (let i = 0; i < 70; i++) deep = [deep];
  const valid = makeHit(500);
  await raw.send(packr.pack(["wallarm.hits", 1, { not: "a hit" }, {}]));
  await raw.send(packr.pack(["wallarm.hits", [[1, { deep }], [1, valid]], { chunk: "c-1" }]));
  assert.deepEqual(await raw.read(), { ack: "c-1" });
  raw.close();

  await sending;
  await client.disconnect();
  await until("read", async () => (await statusIn(`${dir}/data`))?.input?.hits === 21);
  const status = await statusIn(`${dir}/data`);
  assert.equal(status.input.rejected, 2);
  const deadLetters = (await Deno.readTextFile(`${dir}/data/dead-letter.ndjson`)).trim().split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(deadLetters.length, 2);
  assert.match(deadLetters[0].reason, /expected a JSON object|required/);
  assert.deepEqual([deadLetters[0].raw, deadLetters[0].input], ['{"not":"a hit"}', "input"]);
  assert.match(deadLetters[1].reason, /nests deeper than 64 levels/);
  child.kill("SIGTERM");
  assert.equal((await child.status).code, 0);
  await stderr.done;
  assert.deepEqual(sorted(await readExports(`${dir}/out`)), sorted([...hits, valid]));
  assert.ok(stderr.logged(/^The forward input closed a connection from 127\.0\.0\.1: malformed/));
});

Deno.test("forward input: large messages arriving at once hold at most max_buffered_bytes; past it a connection is closed with a reason, and the other's message goes through", async () => {
  const { dir, port, child } = await forwardToFile(", max_buffered_bytes: 1MiB");
  const stderr = collectLog(child.stderr);
  // Two messages of 600 KB each: both held at once would need more than 1 MiB of buffers.
  const hits = [0, 1].map((i) => ({ ...makeHit(i), pad: "x".repeat(600_000) }));
  const messages = hits.map((hit, i) =>
    packr.pack(["wallarm.hits", 1, hit, { chunk: `big-${i}` }])
  );
  const conns = await Promise.all([forwardConnection(port), forwardConnection(port)]);
  // The first halves of both, then the rest of each: one grows past what is left, and goes.
  for (const [i, conn] of conns.entries()) await conn.send(messages[i]!.subarray(0, 400_000));
  const answers = await Promise.all(conns.map(async (conn, i) => {
    await conn.send(messages[i]!.subarray(400_000)).catch(() => {});
    return await conn.read();
  }));
  for (const conn of conns) conn.close();
  const acked = answers.filter((a) => a !== null) as Array<{ ack: string }>;
  assert.equal(acked.length, 1, JSON.stringify(answers));
  assert.equal(answers.filter((a) => a === null).length, 1, "the other is closed");
  await until(
    "the reason logged",
    () => stderr.logged(/would pass max_buffered_bytes \(1048576\)/),
  );
  // Later, with the room back, one large message still goes through.
  const again = await forwardConnection(port);
  const other = acked[0]!.ack === "big-0" ? 1 : 0;
  await again.send(messages[other]!);
  assert.deepEqual(await again.read(), { ack: `big-${other}` });
  again.close();
  await until("both read", async () => (await statusIn(`${dir}/data`))?.input?.hits === 2);
  child.kill("SIGTERM");
  assert.equal((await child.status).code, 0);
  await stderr.done;
  assert.deepEqual(sorted(await readExports(`${dir}/out`)), sorted(hits));
});

Deno.test("forward input: a PING whose salt is raw bytes (as Fluent Bit sends it, not text) passes the handshake", async () => {
  const { decode, encode } = await import("@msgpack/msgpack");
  const { createHash } = await import("node:crypto");
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
input: { type: forward, listen: "127.0.0.1:${port}", shared_key: k3y }
outputs: [{ name: local, type: file, path: ${dir}/out, interval: 1h }]
`,
  );
  const child = spawnCli(["run", "--config", config]);
  child.stdin.close();
  await listening(port);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const buffer = new Uint8Array(4096);
  const helo = decode(buffer.subarray(0, (await conn.read(buffer))!), {
    rawStrings: true,
  } as never) as [Uint8Array, { nonce: Uint8Array }];
  const nonce = Uint8Array.from(helo[1].nonce); // a copy: the read buffer is used again
  // 16 bytes that are no UTF-8 text, in a msgpack str (0xd9 = str 8), as Fluent Bit packs them.
  const salt = Uint8Array.from([0xff, 0xfe, 0x80, 0x81, 0xc3, 0x28, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const sha = (...parts: Array<string | Uint8Array>) => {
    const hash = createHash("sha512");
    for (const part of parts) hash.update(part);
    return hash.digest("hex");
  };
  const parts = [
    Uint8Array.of(0x96), // fixarray of 6
    encode("PING"),
    encode("node-1"),
    Uint8Array.of(0xd9, salt.length),
    salt,
    encode(sha(salt, "node-1", nonce, "k3y")),
    encode(""),
    encode(""),
  ];
  const ping = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    ping.set(part, at);
    at += part.length;
  }
  await conn.write(ping);
  const pong = decode(buffer.subarray(0, (await conn.read(buffer))!), {
    rawStrings: true,
  } as never) as [Uint8Array, boolean, Uint8Array, Uint8Array, Uint8Array];
  assert.equal(pong[1], true, new TextDecoder().decode(pong[2]));
  // The server's proof, over the same salt bytes and the hostname it names.
  assert.equal(new TextDecoder().decode(pong[4]), sha(salt, pong[3], nonce, "k3y"));
  conn.close();
  child.kill("SIGTERM");
  await child.status;
  await Deno.remove(dir, { recursive: true });
});
