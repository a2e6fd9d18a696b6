/**
 * A local HTTP receiver that behaves like an InsightConnect workflow API trigger: it checks the
 * path and `X-API-Key`, answers 202, 401 or 5xx, and can hang, answer late, reset the connection or
 * redirect.
 *
 * @module
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

/** What the receiver does with one request. */
export type Behaviour =
  | "accept"
  | "error"
  | "hang"
  | "reset"
  | number
  | { redirect: string }
  | { after: Promise<unknown> };

/** A request the receiver got. */
export interface Received {
  at: number;
  path: string;
  apiKey: string | undefined;
  contentType: string | undefined;
  text: string;
  // deno-lint-ignore no-explicit-any
  body: any;
  answered: number | "hang" | "reset";
}

/** A running receiver. */
export interface Receiver {
  /** The trigger URL (events/execute shape). */
  url: string;
  /** The trigger URL in the execute/async shape. */
  asyncUrl: string;
  key: string;
  requests: Received[];
  /** The hits of the requests answered 202, in the order they came, as parsed JSON. */
  delivered(): unknown[];
  /** Decides each answer; `n` counts requests from 0. Accepts every request by default. */
  behave(decide: (request: Received, n: number) => Behaviour): void;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * The hits a request carries: a notification's `details.hits`, or its one `details.hit` (a hit
 * that goes alone); none for a system event or a body that is no JSON.
 */
export function hitsOf(request: Received): unknown[] {
  const details = request.body?.details;
  if (Array.isArray(details?.hits)) return details.hits;
  return details?.hit === undefined ? [] : [details.hit];
}

const PATHS = [
  /^\/connect\/v1\/workflows\/[^/]+\/events\/execute$/,
  /^\/connect\/v1\/execute\/async\/workflows\/[^/]+$/,
];

/** Starts a receiver on 127.0.0.1 with a random port. */
export async function startReceiver(key = "test-api-key-7c1f"): Promise<Receiver> {
  const requests: Received[] = [];
  let decide: (request: Received, n: number) => Behaviour = () => "accept";
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const chunks: Uint8Array[] = [];
    req.on("data", (c: Uint8Array) => chunks.push(c));
    req.on("end", () => {
      const text = new TextDecoder().decode(
        chunks.reduce((a, c) => {
          const out = new Uint8Array(a.length + c.length);
          out.set(a);
          out.set(c, a.length);
          return out;
        }, new Uint8Array(0)),
      );
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      const received: Received = {
        at: Date.now(),
        path: req.url ?? "",
        apiKey: req.headers["x-api-key"] as string | undefined,
        contentType: req.headers["content-type"],
        text,
        body,
        answered: 0,
      };
      requests.push(received);
      const answer = (status: number, json: unknown) => {
        received.answered = status;
        res.writeHead(status, { "Content-Type": "application/json" });
        res.end(JSON.stringify(json));
      };
      if (req.method !== "POST" || !PATHS.some((p) => p.test(received.path))) {
        return answer(404, { message: "Not Found" });
      }
      if (received.apiKey !== key) return answer(401, { message: "Unauthorized" });
      const behaviour = decide(received, requests.length - 1);
      if (behaviour === "hang") {
        received.answered = "hang";
        hanging.add(res);
        return;
      }
      if (behaviour === "reset") {
        received.answered = "reset";
        req.socket.destroy();
        return;
      }
      if (typeof behaviour === "object" && "after" in behaviour) {
        // A slow trigger: accepted once the test lets it answer.
        behaviour.after.then(() => answer(202, { job_id: crypto.randomUUID() }));
        return;
      }
      if (typeof behaviour === "object") {
        received.answered = 307;
        res.writeHead(307, { Location: behaviour.redirect });
        res.end();
        return;
      }
      if (behaviour === "error") return answer(500, { message: "Internal Server Error" });
      if (typeof behaviour === "number") return answer(behaviour, { message: "status" });
      answer(202, { job_id: crypto.randomUUID() });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}/connect/v1`;
  const close = async () => {
    for (const res of hanging) res.socket?.destroy();
    server.closeAllConnections?.();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    url: `${base}/workflows/wf-1/events/execute`,
    asyncUrl: `${base}/execute/async/workflows/wf-1`,
    key,
    requests,
    delivered: () => requests.filter((r) => r.answered === 202).flatMap(hitsOf),
    behave: (d) => (decide = d),
    close,
    [Symbol.asyncDispose]: close,
  };
}
