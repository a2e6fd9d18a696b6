/**
 * A local HTTP intake for output tests where no real receiver runs here (Datadog, Sumo Logic) or a
 * test needs an answer a real one will not give (401 for a wrong token): every request recorded
 * with its headers and its body (gunzipped when it came gzipped), answered by a rule of the test.
 */
import { gunzipSync } from "node:zlib";

/** A request the intake got. */
export interface IntakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
  /** The body as sent (compressed or not). */
  raw: Uint8Array;
  /** The body as text, gunzipped when `Content-Encoding: gzip`. */
  text: string;
}

/** An answer: a status with an optional JSON body. */
export interface IntakeAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A running intake. */
export interface Intake {
  url: string;
  requests: IntakeRequest[];
  /** Decides each answer (`n` counts from 0); 200 with no body by default. */
  answer(decide: (request: IntakeRequest, n: number) => IntakeAnswer): void;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts an intake on 127.0.0.1 with a random port. */
export function startIntake(): Promise<Intake> {
  const requests: IntakeRequest[] = [];
  let decide: (request: IntakeRequest, n: number) => IntakeAnswer = () => ({ status: 200 });
  const { promise, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: (addr) => resolve(addr as Deno.NetAddr),
  }, async (req) => {
    const raw = new Uint8Array(await req.arrayBuffer());
    const gz = req.headers.get("content-encoding") === "gzip";
    const url = new URL(req.url);
    const request: IntakeRequest = {
      method: req.method,
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      raw,
      text: new TextDecoder().decode(gz ? gunzipSync(raw) : raw),
    };
    const n = requests.length;
    requests.push(request);
    const answer = decide(request, n);
    return new Response(answer.body === undefined ? null : JSON.stringify(answer.body), {
      status: answer.status,
      headers: { "content-type": "application/json", ...answer.headers },
    });
  });
  return promise.then((addr) => {
    const intake: Intake = {
      url: `http://127.0.0.1:${addr.port}`,
      requests,
      answer: (next) => decide = next,
      close: () => server.shutdown(),
      [Symbol.asyncDispose]: () => server.shutdown(),
    };
    return intake;
  });
}
