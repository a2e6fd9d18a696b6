/**
 * Receivers for the output scenario of `deno task bench`: as fast as they can be, in the bench's
 * own process, so the figure is hitship's CPU alone. One HTTP sink answers as each intake does
 * (HEC's code 0, a bulk answer with an item per action, OTLP's 200, Datadog's 202), one TCP sink
 * drains syslog, one Forward sink acknowledges each chunk.
 */
import { decodeMultiStream, encode } from "@msgpack/msgpack";

/** A running sink and how to stop it. */
export interface Sink {
  port: number;
  stop(): Promise<void>;
}

/** An HTTP sink for `http`, `datadog`, `sumologic`, `splunk-hec`, `elasticsearch`, `opentelemetry`. */
export function httpSink(): Promise<Sink> {
  const { promise, resolve } = Promise.withResolvers<number>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => resolve(port),
  }, async (request) => {
    const path = new URL(request.url).pathname;
    const body = new Uint8Array(await request.arrayBuffer());
    if (path.endsWith("/services/collector/event")) {
      return Response.json({ text: "Success", code: 0 });
    }
    if (path.endsWith("/_bulk")) {
      let lines = 0;
      for (const byte of body) if (byte === 0x0a) lines++;
      const items = Array.from({ length: lines / 2 }, () => ({ create: { status: 201 } }));
      return Response.json({ errors: false, items });
    }
    if (path.endsWith("/api/v2/logs")) return new Response("{}", { status: 202 });
    return new Response(null, { status: 200 });
  });
  return promise.then((port) => ({ port, stop: () => server.shutdown() }));
}

/** A TCP sink that reads and drops everything (syslog). */
export function tcpSink(): Sink {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        const buffer = new Uint8Array(256 * 1024);
        try {
          while ((await conn.read(buffer)) !== null) { /* drop */ }
        } catch { /* closed */ }
        conns.delete(conn);
      })();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    stop: () => {
      listener.close();
      for (const conn of conns) conn.close();
      return Promise.resolve();
    },
  };
}

/** A Forward sink: each message's chunk acknowledged. */
export function forwardSink(): Sink {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        const writer = conn.writable.getWriter();
        try {
          for await (const message of decodeMultiStream(conn.readable)) {
            const options = (message as unknown[])[2] as { chunk?: string } | undefined;
            if (options?.chunk) await writer.write(encode({ ack: options.chunk }));
          }
        } catch { /* closed */ }
        conns.delete(conn);
      })();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    stop: () => {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      return Promise.resolve();
    },
  };
}
