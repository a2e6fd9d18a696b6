/**
 * Senders for the input benchmarks: HTTP bodies of NDJSON from concurrent clients, slow clients
 * that trickle their bodies, and Forward-protocol PackedForward chunks with acks, as Fluent Bit
 * sends them with `Require_ack_response true`.
 *
 * @module
 */
import { decode, encode } from "@msgpack/msgpack";
import { Packr } from "msgpackr";

const enc = new TextEncoder();

/** Cuts an NDJSON file into bodies of about `size` bytes, each ending at a line's end. */
export async function* bodies(path: string, size: number): AsyncGenerator<Uint8Array> {
  const file = await Deno.open(path);
  let carry = new Uint8Array(0);
  const buffer = new Uint8Array(size);
  try {
    for (;;) {
      const n = await file.read(buffer);
      if (n === null) break;
      const chunk = new Uint8Array(carry.length + n);
      chunk.set(carry);
      chunk.set(buffer.subarray(0, n), carry.length);
      const cut = chunk.lastIndexOf(0x0a) + 1;
      if (cut === 0) {
        carry = chunk;
        continue;
      }
      yield chunk.subarray(0, cut);
      carry = chunk.slice(cut);
    }
    if (carry.length > 0) yield carry;
  } finally {
    file.close();
  }
}

/** Takes items from one generator on several workers at once. */
async function share<T>(
  items: AsyncGenerator<T>,
  workers: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let taking = Promise.resolve();
  const next = () => {
    const got = taking.then(() => items.next());
    taking = got.then(() => {});
    return got;
  };
  await Promise.all(Array.from({ length: workers }, async () => {
    for (let item = await next(); !item.done; item = await next()) await work(item.value);
  }));
}

/** POSTs NDJSON bodies of about `size` bytes from `clients` concurrent clients. */
export async function postBodies(
  url: string,
  path: string,
  clients: number,
  size: number,
): Promise<{ requests: number; accepted: number }> {
  let requests = 0;
  let accepted = 0;
  await share(bodies(path, size), clients, async (body) => {
    for (;;) {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/x-ndjson" },
        body: body as BodyInit,
      });
      const answer = await response.json().catch(() => ({}));
      requests++;
      if (response.status === 200) {
        accepted += answer.accepted;
        return;
      }
      if (response.status !== 503) throw new Error(`HTTP ${response.status}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  return { requests, accepted };
}

/**
 * `clients` slow clients at once, each POSTing `each` bodies of about `size` bytes at
 * `bytesPerSecond`, over keep-alive connections of their own (raw HTTP/1.1, to pace the writes).
 */
export async function slowClients(
  hostname: string,
  port: number,
  path: string,
  options: { clients: number; each: number; size: number; bytesPerSecond: number },
): Promise<{ requests: number; busy: number }> {
  const all: Uint8Array[] = [];
  for await (const body of bodies(path, options.size)) {
    all.push(body);
    if (all.length >= options.clients * options.each) break;
  }
  let requests = 0;
  let busy = 0;
  const step = 16 * 1024;
  const pause = (step / options.bytesPerSecond) * 1000;
  await Promise.all(Array.from({ length: options.clients }, async (_, c) => {
    for (let i = 0; i < options.each; i++) {
      const body = all[(c * options.each + i) % all.length]!;
      for (;;) {
        const conn = await Deno.connect({ hostname, port });
        try {
          await conn.write(enc.encode(
            `POST /hits HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/x-ndjson\r\n` +
              `content-length: ${body.length}\r\nconnection: close\r\n\r\n`,
          ));
          for (let at = 0; at < body.length; at += step) {
            await conn.write(body.subarray(at, Math.min(body.length, at + step)));
            await new Promise((r) => setTimeout(r, pause));
          }
        } catch {
          // answered early (503) and closed
        }
        const answer = await new Response(conn.readable).text().catch(() => "");
        requests++;
        if (answer.startsWith("HTTP/1.1 200")) break;
        busy++;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }));
  return { requests, busy };
}

/**
 * Writes the NDJSON file's hits as PackedForward messages of `perChunk` records each, with a
 * `chunk` option asking for an ack; the file holds each message after its 4-byte length.
 */
export async function makeForwardFile(ndjson: string, out: string, perChunk: number) {
  try {
    if ((await Deno.stat(out)).size > 0) return;
  } catch { /* make it */ }
  const packr = new Packr({ useRecords: false, variableMapSize: true });
  const file = await Deno.open(`${out}.tmp`, { write: true, create: true, truncate: true });
  const dec = new TextDecoder();
  let n = 0;
  let parts: Uint8Array[] = [];
  const flush = async () => {
    const entries = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let at = 0;
    for (const p of parts) {
      entries.set(p, at);
      at += p.length;
    }
    const message = encode(["wallarm.hits", entries, {
      chunk: `chunk-${n++}`,
      size: parts.length,
    }]);
    const framed = new Uint8Array(4 + message.length);
    new DataView(framed.buffer).setUint32(0, message.length);
    framed.set(message, 4);
    await file.write(framed);
    parts = [];
  };
  // The file a piece at a time: a million hits are past the longest string V8 makes.
  for await (const body of bodies(ndjson, 1024 * 1024)) {
    for (const line of dec.decode(body).split("\n")) {
      if (line === "") continue;
      parts.push(packr.pack([1687241470 + parts.length, JSON.parse(line)]));
      if (parts.length === perChunk) await flush();
    }
  }
  if (parts.length > 0) await flush();
  file.close();
  await Deno.rename(`${out}.tmp`, out);
}

async function* forwardMessages(path: string): AsyncGenerator<Uint8Array> {
  const data = await Deno.readFile(path);
  const view = new DataView(data.buffer);
  for (let at = 0; at < data.length;) {
    const length = view.getUint32(at);
    yield data.subarray(at + 4, at + 4 + length);
    at += 4 + length;
  }
}

/** Sends the messages of a forward file over `connections` connections, each waiting for acks. */
export async function sendForward(
  hostname: string,
  port: number,
  path: string,
  connections: number,
): Promise<{ messages: number }> {
  let messages = 0;
  const conns = await Promise.all(
    Array.from({ length: connections }, () => Deno.connect({ hostname, port })),
  );
  let free = [...conns];
  await share(forwardMessages(path), connections, async (message) => {
    const conn = free.pop()!;
    try {
      let written = 0;
      while (written < message.length) written += await conn.write(message.subarray(written));
      const buffer = new Uint8Array(1024);
      const n = await conn.read(buffer);
      if (n === null) throw new Error("the connection closed before the ack");
      const ack = decode(buffer.subarray(0, n)) as { ack?: string };
      if (!ack.ack) throw new Error("no ack");
      messages++;
    } finally {
      free = [...free, conn];
    }
  });
  for (const conn of conns) conn.close();
  return { messages };
}
