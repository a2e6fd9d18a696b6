/**
 * One attempt at the S3 server: a minio client with its own connection pool (so an attempt can be
 * cut off), a deadline that moves with every sign of progress, the start of a 5xx answer's body
 * kept (the client does not read it), and the error an attempt came to, worded with its S3 code.
 *
 * @module
 */
import type { IncomingMessage, RequestOptions } from "node:http";
import type { Client } from "minio";
import { extraCaCerts } from "@hitship/hitship/sdk";
import { endpointOf, type MinioHitlogsConfig } from "./config.ts";

/** Where Linux distributions keep their CA bundle. */
const CA_BUNDLES = [
  "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine
  "/etc/pki/tls/certs/ca-bundle.crt", // Fedora, RHEL
  "/etc/ssl/cert.pem",
];

/**
 * The system's CA bundle, read as a file: the runtime's own store would need `--allow-sys`
 * for all system information, where reading one file needs only `--allow-read` of it. Where the
 * system has none (a slim image), the Mozilla roots the runtime carries.
 *
 * @returns The PEM text.
 */
async function systemCaBundle(): Promise<string> {
  const paths = [Deno.env.get("SSL_CERT_FILE"), ...CA_BUNDLES].filter((p): p is string => !!p);
  for (const path of paths) {
    try {
      const text = await Deno.readTextFile(path);
      if (text.includes("-----BEGIN CERTIFICATE-----")) return text;
    } catch {
      // next
    }
  }
  const { rootCertificates } = await import("node:tls");
  return rootCertificates.join("\n");
}

/**
 * The CA certificates an https endpoint is verified against: `tls.ca_file`, or the system's; and
 * `NODE_EXTRA_CA_CERTS` besides either.
 */
export async function caOf(config: MinioHitlogsConfig): Promise<string> {
  const base = config.tls?.ca_file
    ? await Deno.readTextFile(config.tls.ca_file)
    : await systemCaBundle();
  const extra = await extraCaCerts();
  return [base, ...extra].join("\n");
}

interface Transport {
  Client: typeof Client;
  http: typeof import("node:http");
  https: typeof import("node:https");
}
let transport: Promise<Transport> | undefined;

/**
 * The minio client and Node's HTTP modules are loaded when an output first sends: the client
 * costs about 28 MB of memory, the HTTP modules about 10 ms of start-up.
 */
function loadTransport(): Promise<Transport> {
  transport ??= Promise.all([import("minio"), import("node:http"), import("node:https")])
    .then(([minio, http, https]) => ({
      Client: minio.Client,
      http: http.default,
      https: https.default,
    }));
  return transport;
}

const decoder = new TextDecoder();

/** The statuses whose body the minio client does not read (it would retry them). */
const UNREAD_STATUSES = (status: number) =>
  status >= 500 || status === 408 || status === 429 || status === 499;

/** HTTP statuses of S3 error codes, for servers whose error has no status attached. */
const S3_STATUS: Record<string, number> = {
  AccessDenied: 403,
  SignatureDoesNotMatch: 403,
  InvalidAccessKeyId: 403,
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NoSuchUpload: 404,
  SlowDown: 503,
  ServiceUnavailable: 503,
  InternalError: 500,
};

/** One attempt: a client, and the means to cut it off. */
export interface Attempt {
  client: Client;
  /** Fails the attempt: destroys its sockets. */
  abort(reason: string): void;
  /** Marks progress, pushing the inactivity deadline back. */
  progress(): void;
  /** The last HTTP status seen. */
  status(): number | undefined;
  /** The start of the last 5xx answer's body, once it has come (or 1 s has passed). */
  errorBody(): Promise<string>;
  /** Rejects when the attempt is aborted. */
  aborted: Promise<never>;
  /** A call of the client, or the attempt's failure, whichever comes first. */
  race<T>(call: Promise<T>): Promise<T>;
  close(): void;
}

/** What a request of the client says, as it happens: its statuses and 5xx bodies. */
class Answers {
  last: number | undefined;
  body: Promise<string> = Promise.resolve("");

  /** Takes an answer's status, and the start of a body the client will not read. */
  seen(res: IncomingMessage): void {
    this.last = res.statusCode;
    if (!UNREAD_STATUSES(res.statusCode ?? 0)) return;
    this.body = new Promise((resolve) => {
      let text = "";
      res.on("data", (chunk: Uint8Array) => {
        if (text.length < 4096) text += decoder.decode(chunk);
      });
      res.on("end", () => resolve(text));
      res.on("error", () => resolve(text));
      res.on("close", () => resolve(text));
    });
  }

  /** The last 5xx body, or "" after 1 s. */
  errorBody(): Promise<string> {
    return Promise.race([
      this.body,
      new Promise<string>((resolve) => {
        const timer = setTimeout(() => resolve(""), 1000);
        this.body.finally(() => clearTimeout(timer));
      }),
    ]);
  }
}

/**
 * Opens one attempt at the endpoint of `config`, cut off when `signal` aborts or `timeout` passes
 * without progress.
 *
 * @param ca The CA certificates of an https endpoint.
 */
export async function openAttempt(
  config: MinioHitlogsConfig,
  ca: string | undefined,
  signal: AbortSignal,
): Promise<Attempt> {
  const { Client, http, https } = await loadTransport();
  const url = endpointOf(config.endpoint);
  const agent = url.secure
    ? new https.Agent({ keepAlive: true, ca, rejectUnauthorized: config.tls?.verify ?? true })
    : new http.Agent({ keepAlive: true });
  const answers = new Answers();
  const base = url.secure ? https : http;
  const transport = {
    request(options: RequestOptions, callback?: (res: IncomingMessage) => void) {
      const req = base.request(options, callback);
      req.on("response", (res) => {
        answers.seen(res);
        attempt.progress();
      });
      return req;
    },
  };
  let fail: (error: Error) => void = () => {};
  const aborted = new Promise<never>((_, reject) => (fail = reject));
  aborted.catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  const abort = (reason: string) => {
    clearTimeout(timer);
    agent.destroy();
    fail(new Error(reason));
  };
  const onAbort = () => abort("aborted");
  signal.addEventListener("abort", onAbort, { once: true });
  const timeout = config.timeout;
  const attempt: Attempt = {
    client: new Client({
      endPoint: url.host,
      port: url.port,
      useSSL: url.secure,
      accessKey: config.access_key,
      secretKey: config.secret_key,
      region: config.region,
      pathStyle: true,
      partSize: config.part_size,
      transport: transport as never,
      transportAgent: agent,
      retryOptions: { disableRetry: true },
    }),
    abort,
    progress() {
      clearTimeout(timer);
      timer = setTimeout(() => abort(`no progress for ${timeout / 1000}s (timeout)`), timeout);
    },
    status: () => answers.last,
    errorBody: () => answers.errorBody(),
    aborted,
    race: (call) => Promise.race([call, aborted]),
    close() {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      agent.destroy();
    },
  };
  attempt.progress();
  return attempt;
}

/** What an attempt's error was: its S3 code and message, and the HTTP status. */
export async function describeError(
  error: unknown,
  attempt: Attempt,
): Promise<{ message: string; status?: number }> {
  const status = attempt.status();
  const e = error as { code?: string; message?: string; cause?: unknown };
  const retryable = /Retryable HTTP status: (\d+)/.exec(e.message ?? "");
  if (retryable) {
    // A 5xx: its code and message are in the body the client did not read.
    const body = await attempt.errorBody();
    const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
    const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1];
    const http = Number(retryable[1]);
    return {
      message: `${http} ${code ?? "server error"}${message ? `: ${message}` : ""}`,
      status: http,
    };
  }
  const code = e.code ?? (e.cause as { code?: string } | undefined)?.code;
  if (code && /^[A-Z][A-Za-z]+$/.test(code)) {
    const http = status ?? S3_STATUS[code];
    const detail = e.message && e.message !== code ? `: ${e.message}` : "";
    return { message: `${http ?? ""} ${code}${detail}`.trim(), status: http };
  }
  const detail = e.message ?? String(error);
  return { message: code && !detail.includes(code) ? `${code} (${detail})` : detail, status };
}
