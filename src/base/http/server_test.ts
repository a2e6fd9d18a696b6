import assert from "node:assert/strict";
import { FakeClock } from "../clock.ts";
import { serveBounded } from "./server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function start(clock?: FakeClock, maxConnections = 64) {
  return serveBounded(
    { hostname: "127.0.0.1", port: 0, paths: ["/health", "/metrics"], maxConnections, clock },
    ({ path }) => ({ status: 200, body: `served ${path}\n` }),
  );
}

/** Sends raw bytes and reads until the server closes the connection. */
async function exchange(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(enc.encode(request));
  let text = "";
  const buffer = new Uint8Array(4096);
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
    text += dec.decode(buffer.subarray(0, n));
  }
  conn.close();
  return text;
}

Deno.test("serveBounded() answers GET and HEAD of its exact paths, 405 and 404 otherwise", async () => {
  const server = start();
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const get = await fetch(`${base}/metrics?x=1`);
    assert.equal(get.status, 200);
    assert.equal(await get.text(), "served /metrics\n");
    const head = await fetch(`${base}/health`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
    const post = await fetch(`${base}/metrics`, { method: "POST", body: "x" });
    assert.equal(post.status, 413, "a body is refused before anything else");
    await post.body?.cancel();
    const del = await fetch(`${base}/metrics`, { method: "DELETE" });
    assert.equal(del.status, 405);
    assert.equal(del.headers.get("allow"), "GET, HEAD");
    await del.body?.cancel();
    for (const path of ["/", "/metrics/", "/metricsx", "/health/../metrics2"]) {
      const response = await fetch(`${base}${path}`);
      assert.equal(response.status, 404, path);
      await response.body?.cancel();
    }
    assert.match(await exchange(server.port, "nonsense\r\n\r\n"), /^HTTP\/1\.1 400 /);
    assert.match(
      await exchange(server.port, `GET /health HTTP/1.1\r\nx: ${"a".repeat(9000)}\r\n\r\n`),
      /^HTTP\/1\.1 431 /,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveBounded() closes a stalled request head and an idle connection on time, and caps connections", async () => {
  const clock = new FakeClock();
  const server = start(clock, 2);
  try {
    const stalled = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await stalled.write(enc.encode("GET /health HTTP/1.1\r\nHost: x\r\n")); // no end of head
    const idle = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const waitFor = async (n: number) => {
      for (let i = 0; i < 200 && server.connections !== n; i++) {
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.equal(server.connections, n);
    };
    await waitFor(2);
    // A third connection is over the cap: closed at once.
    const third = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    assert.equal(await third.read(new Uint8Array(16)), null);
    third.close();
    await clock.advance(5_000); // the idle connection's time
    assert.equal(await idle.read(new Uint8Array(16)), null);
    await waitFor(1);
    await clock.advance(5_000); // the stalled head's 10 s
    assert.equal(await stalled.read(new Uint8Array(16)), null);
    await waitFor(0);
    idle.close();
    stalled.close();
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveBounded() answers 503 with Retry-After to a body that would pass the bytes held at once, and takes it once room is back", async () => {
  const server = serveBounded(
    {
      hostname: "127.0.0.1",
      port: 0,
      paths: ["/in", "/health"],
      methods: ["GET", "POST"],
      maxBodyBytes: 10_000,
      maxBufferedBytes: 1_000,
    },
    ({ path, body }) => ({ status: 200, body: `${path} ${body.length}\n` }),
  );
  try {
    const base = `http://127.0.0.1:${server.port}`;
    // A slow client holds 800 bytes of room while its body trickles in.
    const slow = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await slow.write(enc.encode("POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 800\r\n\r\n"));
    await slow.write(enc.encode("a".repeat(100)));
    for (let i = 0; i < 200 && server.connections < 1; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 20));
    const refused = await fetch(`${base}/in`, { method: "POST", body: "b".repeat(800) });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "1");
    await refused.body?.cancel();
    // Requests without a body are never refused for room.
    const health = await fetch(`${base}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    // A small body still fits beside the slow one.
    const small = await fetch(`${base}/in`, { method: "POST", body: "c".repeat(150) });
    assert.equal(await small.text(), "/in 150\n");
    // The slow body ends: it is answered, and its room is free again.
    await slow.write(enc.encode("a".repeat(700)));
    const answer = new Uint8Array(1024);
    const n = await slow.read(answer);
    assert.match(dec.decode(answer.subarray(0, n ?? 0)), /^HTTP\/1\.1 200 [\s\S]*\/in 800\n$/);
    slow.close();
    const again = await fetch(`${base}/in`, { method: "POST", body: "b".repeat(800) });
    assert.equal(await again.text(), "/in 800\n");
  } finally {
    await server.shutdown();
  }
});

/** Reads what the server sends until it closes (or `ms` pass: then throws). */
async function readAll(conn: Deno.Conn, ms = 2000): Promise<string> {
  let text = "";
  const buffer = new Uint8Array(4096);
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    conn.close();
  }, ms);
  try {
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      text += dec.decode(buffer.subarray(0, n));
    }
  } catch (error) {
    if (!late) throw error;
  } finally {
    clearTimeout(timer);
  }
  if (late) throw new Error(`the server did not close the connection within ${ms} ms`);
  return text;
}

Deno.test("serveBounded() refuses from the head before reading a body: checkHead's answer, then close", async () => {
  let bodies = 0;
  const server = serveBounded({
    hostname: "127.0.0.1",
    port: 0,
    paths: ["/in"],
    methods: ["POST"],
    maxBodyBytes: 16 * 1024 * 1024,
    checkHead: ({ headers }) =>
      headers.get("authorization") === "Bearer t" ? undefined : { status: 401, body: "no\n" },
  }, () => {
    bodies++;
    return { status: 200 };
  });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    // 16 MiB announced, none sent: the answer comes at once, and the connection closes.
    await conn.write(
      enc.encode("POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 16777216\r\n\r\n"),
    );
    assert.match(await readAll(conn), /^HTTP\/1\.1 401 [\s\S]*connection: close[\s\S]*no\n$/);
    conn.close();
    assert.equal(bodies, 0);
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveBounded() counts a slow body by what it sent, and closes it below the minimum rate", async () => {
  const clock = new FakeClock();
  const server = serveBounded({
    hostname: "127.0.0.1",
    port: 0,
    paths: ["/in"],
    methods: ["POST"],
    maxBodyBytes: 16 * 1024 * 1024,
    maxBufferedBytes: 16 * 1024 * 1024,
    bodyTimeout: 60_000,
    minBodyRate: 1024,
    clock,
  }, ({ body }) => ({ status: 200, body: `${body.length}\n` }));
  try {
    // Two senders announce 16 MiB each and send a byte: they hold what they sent, not 16 MiB.
    const slow = await Promise.all(
      [0, 1].map(() => Deno.connect({ hostname: "127.0.0.1", port: server.port })),
    );
    for (const conn of slow) {
      await conn.write(
        enc.encode("POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 16777216\r\n\r\nx"),
      );
    }
    for (let i = 0; i < 200 && server.connections < 2; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 5; i++) {
      const answer = await fetch(`http://127.0.0.1:${server.port}/in`, {
        method: "POST",
        body: "y".repeat(4 * 1024 * 1024),
      });
      assert.equal(answer.status, 200, "others are served beside the slow senders");
      assert.equal(await answer.text(), `${4 * 1024 * 1024}\n`);
    }
    // 10 s of grace and 1 s per KiB sent: a byte buys nothing more.
    await clock.advance(10_100);
    for (const conn of slow) assert.equal(await readAll(conn), "", "closed without an answer");
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveBounded() answers a head with bare LF line ends 400 at once", async () => {
  const server = start();
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await conn.write(enc.encode("GET /health HTTP/1.1\nHost: x\n\n"));
    assert.match(await readAll(conn, 1000), /^HTTP\/1\.1 400 [\s\S]*bare LF/);
    conn.close();
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveBounded() at its connection limit closes the one stalled longest to serve a new one", async () => {
  const clock = new FakeClock();
  const server = start(clock, 2);
  try {
    const stalled = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await stalled.write(enc.encode("GET /health HTTP/1.1\r\nHost: x\r\n"));
    const waitFor = async (n: number) => {
      for (let i = 0; i < 200 && server.connections !== n; i++) {
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.equal(server.connections, n);
    };
    await waitFor(1);
    await clock.advance(2_000);
    const idle = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await waitFor(2);
    // Full: the new one is taken, the stalled one (no progress for 2 s) is closed for it.
    const fresh = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await fresh.write(enc.encode("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    assert.match(await readAll(fresh), /^HTTP\/1\.1 200 [\s\S]*served \/health\n$/);
    assert.equal(await readAll(stalled), "");
    for (const conn of [stalled, idle, fresh]) {
      try {
        conn.close();
      } catch {
        // closed already
      }
    }
  } finally {
    await server.shutdown();
  }
});
