import assert from "node:assert/strict";
import { FakeClock } from "./clock.ts";
import { serveBounded } from "./http_server.ts";

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
