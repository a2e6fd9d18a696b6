/**
 * The `http` input: hits POSTed by Fluent Bit's and Vector's `http` outputs, the node, or a
 * script: NDJSON, a JSON array of hits, or one hit, gzip-compressed or not. A request is answered
 * only once its valid hits are in the journal, with what was accepted and rejected; a full journal
 * or disk answers 503 with Retry-After, which the shippers retry.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import {
  byteSize,
  defineInput,
  duration,
  gunzip,
  type HttpAnswer,
  type HttpRequest,
  type HttpRequestHead,
  type InputContext,
  isJsonText,
  listenAddress,
  release,
  serveBounded,
  splitAddress,
  UnpackedTooLarge,
  z,
} from "@hitship/hitship/sdk";

/** The config fields of an `http` input. */
export const httpInputSchema = z.strictObject({
  listen: listenAddress("127.0.0.1:8686").default("127.0.0.1:8686").meta({
    description: "Address to listen on",
    examples: ["0.0.0.0:8686"],
  }),
  path: z.string().regex(/^\/[^?#\s]*$/, { error: "expected a path such as /hits" })
    .default("/hits").meta({ description: "Path hits are POSTed to", examples: ["/hits"] }),
  auth_token: z.string().min(1).optional().meta({
    description: "Token senders give as `Authorization: Bearer TOKEN` (use ${ENV_VAR}); never " +
      "logged. Without it, anyone who reaches the port may send",
    examples: ["${HITSHIP_HTTP_TOKEN}"],
  }),
  tls: z.strictObject({
    cert_file: z.string().min(1).meta({ description: "PEM certificate (chain) of the server" }),
    key_file: z.string().min(1).meta({ description: "PEM private key of the server" }),
  }).optional().meta({ description: "Serve HTTPS" }),
  max_body_bytes: byteSize({ min: 1024, max: 1024 ** 3 }).prefault("16MiB").meta({
    description: "Largest body, compressed and uncompressed alike; a larger one is answered 413",
  }),
  max_buffered_bytes: byteSize({ min: 1024, max: 16 * 1024 ** 3 }).prefault("16MiB").meta({
    description: "Bytes of request bodies held at once over all connections; past it a request " +
      "is answered 503 with Retry-After before its body is read (one is always taken)",
  }),
  max_connections: z.int().min(1).max(10_000).default(256).meta({
    description: "Connections at once; at the limit the connection that has made no progress " +
      "for longest (at least 1 s) is closed to take a new one, else the new one is closed",
  }),
  header_timeout: duration({ min: 100 }).prefault("10s").meta({
    description: "Time for a request's head to arrive",
  }),
  body_timeout: duration({ min: 100 }).prefault("60s").meta({
    description: "Longest time for a request's body to arrive",
  }),
  min_body_rate: byteSize({ min: 1, max: 1024 ** 3 }).prefault("1KiB").meta({
    description: "Bytes per second a body must arrive at, on average, after its first 10 s; a " +
      "slower one is closed, so slow senders cannot hold connections and memory",
  }),
});

/** A resolved `http` input config. */
export type HttpInputConfig = z.output<typeof httpInputSchema>;

/** Content types taken: NDJSON under its usual names, and JSON. */
const TYPES = [
  "application/x-ndjson",
  "application/ndjson",
  "application/jsonl",
  "application/json-lines",
  "application/x-jsonlines",
  "application/json",
  "text/plain",
];

const encoder = new TextEncoder();

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
  status,
  body: JSON.stringify(body) + "\n",
  headers: { "content-type": "application/json", ...headers },
});

/** Equal in constant time, whatever the lengths: the hashes are compared. */
function sameSecret(given: string, token: Uint8Array): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(token).digest();
  return timingSafeEqual(a, b);
}

/** Where the first byte that is not whitespace or a BOM is, or -1. */
function firstSignificant(body: Uint8Array): number {
  for (let i = 0; i < body.length; i++) {
    const b = body[i]!;
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    if (b === 0xef && body[i + 1] === 0xbb && body[i + 2] === 0xbf) {
      i += 2;
      continue;
    }
    return i;
  }
  return -1;
}

const isSpace = (b: number) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;

/**
 * Copies `bytes` from `start` to `end` into `out` at `at` as one line: trimmed, the CR and LF
 * between tokens (none can be inside a string) as spaces, and a `\n` after it. Returns where the
 * line ends in `out`; nothing is written for an empty one.
 */
function copyLine(bytes: Uint8Array, start: number, end: number, out: Uint8Array, at: number) {
  while (start < end && isSpace(bytes[start]!)) start++;
  while (end > start && isSpace(bytes[end - 1]!)) end--;
  if (end === start) return at;
  for (let i = start; i < end; i++) {
    const b = bytes[i]!;
    out[at++] = b === 0x0a || b === 0x0d ? 0x20 : b;
  }
  out[at++] = 0x0a;
  return at;
}

/**
 * The elements of a valid JSON array, from `start` (its `[`), as they are written, one per line:
 * the bytes of each hit as the sender wrote them (numbers with every digit, keys as they come, a
 * key twice left for the check to say), not parsed and written again. One pass, into one buffer
 * no larger than the body: no object for any element.
 */
function elementLines(body: Uint8Array, start: number): Uint8Array {
  const out = new Uint8Array(body.length);
  let at = 0;
  let depth = 0;
  let from = start + 1;
  for (let i = start; i < body.length; i++) {
    const b = body[i]!;
    if (b === 0x22) { // a string: to its closing quote
      for (i++; body[i] !== 0x22; i++) if (body[i] === 0x5c) i++;
    } else if (b === 0x5b || b === 0x7b) depth++;
    else if (b === 0x5d || b === 0x7d) {
      if (--depth === 0) {
        at = copyLine(body, from, i, out, at);
        break;
      }
    } else if (b === 0x2c && depth === 1) {
      at = copyLine(body, from, i, out, at);
      from = i + 1;
    }
  }
  return out.subarray(0, at);
}

/**
 * The hit lines of a body: NDJSON as it is; a JSON array as one line per element; one JSON object
 * spread over several lines as one line. `undefined` when the body is neither JSON nor NDJSON.
 * Told without parsing the body into values (see `isJsonText`).
 */
function hitLines(body: Uint8Array): Uint8Array | undefined {
  const first = firstSignificant(body);
  if (first === -1) return new Uint8Array(0);
  if (body[first] === 0x5b) { // [
    if (!isJsonText(body, first)) return undefined;
    return elementLines(body, first);
  }
  if (body[first] !== 0x7b) return undefined; // {
  // One object over several lines (pretty-printed) is one hit; NDJSON goes as it is.
  // A first line that is a whole JSON value on its own says NDJSON, without reading the rest.
  const newline = body.indexOf(0x0a, first);
  if (
    newline >= 0 && newline < body.length - 1 && !isJsonText(body, first, newline) &&
    isJsonText(body, first)
  ) {
    const out = new Uint8Array(body.length - first + 1);
    return out.subarray(0, copyLine(body, first, body.length, out, 0) - 1);
  }
  return body;
}

/**
 * Why a request is refused from its head, before its body is read: another path, a missing or
 * wrong token, a content type or encoding not taken, a full journal. Undefined: read the body.
 */
function refusal(
  head: HttpRequestHead,
  config: HttpInputConfig,
  context: InputContext,
  token: Uint8Array | undefined,
): HttpAnswer | undefined {
  if (head.method === "GET" || head.method === "HEAD") return undefined;
  if (head.path !== config.path) {
    return json(405, { error: `POST hits to ${config.path}` }, { allow: "GET, HEAD" });
  }
  if (token) {
    const given = /^Bearer\s+(.+)$/i.exec(head.headers.get("authorization") ?? "")?.[1];
    if (!given || !sameSecret(given.trim(), token)) {
      return json(401, { error: "a valid Authorization: Bearer token is required" }, {
        "www-authenticate": "Bearer",
      });
    }
  }
  const type = head.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type && !TYPES.includes(type)) {
    return json(415, {
      error: `content type "${type}" is not taken: send NDJSON (application/x-ndjson) or JSON`,
    });
  }
  const encoding = head.headers.get("content-encoding")?.trim().toLowerCase();
  if (encoding && !ENCODINGS.includes(encoding)) {
    return json(415, { error: `content encoding "${encoding}" is not taken: use gzip or none` });
  }
  if (context.full()) {
    return json(503, { error: "the journal is full: try again later" }, { "retry-after": "5" });
  }
  return undefined;
}

const ENCODINGS = ["gzip", "x-gzip", "identity"];

/** Answers one request whose head was taken: unpacks it, submits its hits, says what became of them. */
async function answer(
  request: HttpRequest,
  config: HttpInputConfig,
  context: InputContext,
): Promise<HttpAnswer> {
  if (request.method === "GET" || request.method === "HEAD") {
    // The health answer for load balancers, on the input's own port.
    return context.full() ? json(503, { status: "full" }) : json(200, { status: "ok" });
  }
  let body = request.body;
  const encoding = request.headers.get("content-encoding")?.trim().toLowerCase();
  if (encoding === "gzip" || encoding === "x-gzip") {
    try {
      body = await gunzip(body, config.max_body_bytes);
    } catch (error) {
      return error instanceof UnpackedTooLarge
        ? json(413, {
          error: `the body unpacks past max_body_bytes (${config.max_body_bytes} bytes)`,
        })
        : json(400, { error: `the body is not valid gzip: ${(error as Error).message}` });
    }
  }
  const lines = hitLines(body);
  if (!lines) return json(400, { error: "the body is neither JSON nor NDJSON of hits" });
  const { full, ...result } = await context.submit(lines);
  // What this answer unpacked or reshaped is freed now, not at the next full collection.
  if (body !== request.body) release(body);
  if (lines !== body && lines !== request.body) release(lines);
  if (full) {
    return json(503, { error: "the journal is full: try again later" }, { "retry-after": "5" });
  }
  return json(200, result);
}

/** The `http` input plugin. */
export const httpInput = defineInput({
  type: "http",
  description: "Receive hits POSTed as NDJSON or JSON (Fluent Bit, Vector, the node, curl)",
  schema: httpInputSchema,
  async open(config, context): Promise<void> {
    const { hostname, port } = splitAddress(config.listen);
    const tls = config.tls && {
      cert: await Deno.readTextFile(config.tls.cert_file),
      key: await Deno.readTextFile(config.tls.key_file),
    };
    const token = config.auth_token ? encoder.encode(config.auth_token) : undefined;
    const server = serveBounded({
      hostname,
      port,
      paths: [...new Set([config.path, "/health"])],
      methods: ["POST", "PUT", "GET", "HEAD"],
      maxBodyBytes: config.max_body_bytes,
      maxBufferedBytes: config.max_buffered_bytes,
      maxConnections: config.max_connections,
      headerTimeout: config.header_timeout,
      bodyTimeout: config.body_timeout,
      minBodyRate: config.min_body_rate,
      checkHead: (head) => refusal(head, config, context, token),
      tls,
      logger: context.logger,
      clock: context.clock,
    }, (request) => answer(request, config, context));
    context.logger.info(`HTTP input "${context.name}" listens on ${config.listen}`, {
      input: context.name,
      tls: tls !== undefined,
    });
    if (!context.signal.aborted) {
      await new Promise((resolve) =>
        context.signal.addEventListener("abort", resolve, { once: true })
      );
    }
    await server.shutdown();
  },
});
