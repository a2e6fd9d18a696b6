/**
 * One HTTP request of an output, as every HTTP output of hitship makes it: a timeout for the whole
 * request, TLS with the output's CA and client certificate, redirects never followed (credentials
 * and hits go to the configured URL alone), and what came back worded for the log and the status
 * with the output's secrets taken out. Success is a 2xx; anything else is a failure the engine
 * retries on the node's schedule.
 *
 * @module
 */
import { z } from "zod";
import { duration } from "../base/duration.ts";
import type { SendResult } from "./output.ts";

/** The `tls` fields of an output that makes TLS connections, resolved. */
export interface TlsClientOptions {
  /** PEM file of the CA that signed the server's certificate. */
  ca_file?: string | undefined;
  /** PEM client certificate (chain). */
  cert_file?: string | undefined;
  /** PEM private key of the client certificate. */
  key_file?: string | undefined;
}

/** Resolved `tls` fields (absent: the runtime's CA store, no client certificate). */
export type TlsClientConfig = TlsClientOptions | undefined;

/** The `tls` field of an output's schema, for outputs that make TLS connections. */
export const tlsClientShape: z.ZodType<TlsClientConfig, TlsClientConfig> = z.strictObject({
  ca_file: z.string().min(1).optional().meta({
    description: "PEM file of the CA that signed the server's certificate (default: the " +
      "runtime's CA store, with SSL_CERT_FILE)",
  }),
  cert_file: z.string().min(1).optional().meta({
    description: "PEM client certificate (chain), for servers that ask for one (mTLS)",
  }),
  key_file: z.string().min(1).optional().meta({
    description: "PEM private key of the client certificate",
  }),
}).refine((tls) => (tls.cert_file === undefined) === (tls.key_file === undefined), {
  error: "cert_file and key_file go together",
}).optional().meta({ description: "TLS settings for https URLs" });

/** The `timeout` field of an HTTP output's schema, with its default. */
export function requestTimeout(defaultTimeout = "30s"): z.ZodType<number, string | undefined> {
  return duration({ min: 100 }).prefault(defaultTimeout).meta({
    description: "A request (connection included) that takes longer fails and is retried",
    examples: [defaultTimeout],
  });
}

/**
 * The certificate authorities every TLS client of hitship trusts besides its defaults: the PEM
 * file `NODE_EXTRA_CA_CERTS` names (Node's convention; a private CA, a TLS-inspecting proxy's).
 *
 * @returns The PEM texts (none when the variable is unset).
 * @throws When the variable names a file that cannot be read.
 */
export async function extraCaCerts(): Promise<string[]> {
  const path = Deno.env.get("NODE_EXTRA_CA_CERTS");
  if (!path) return [];
  try {
    return [await Deno.readTextFile(path)];
  } catch (error) {
    throw new Error(
      `Cannot read NODE_EXTRA_CA_CERTS "${path}": ${(error as Error).message}`,
    );
  }
}

/**
 * The HTTP client of an output with `tls`: its CA (and `NODE_EXTRA_CA_CERTS`) added to the
 * runtime's, its client certificate; `undefined` (the default client) without any of them.
 */
export async function httpClientOf(tls: TlsClientConfig): Promise<Deno.HttpClient | undefined> {
  const extra = await extraCaCerts();
  if (!tls?.ca_file && !tls?.cert_file && extra.length === 0) return undefined;
  const caCerts = [
    ...(tls?.ca_file ? [await Deno.readTextFile(tls.ca_file)] : []),
    ...extra,
  ];
  if (tls?.cert_file && tls.key_file) {
    const [cert, key] = await Promise.all([
      Deno.readTextFile(tls.cert_file),
      Deno.readTextFile(tls.key_file),
    ]);
    return Deno.createHttpClient({ caCerts, cert, key });
  }
  return Deno.createHttpClient({ caCerts });
}

/** One request. */
export interface HttpRequestSpec {
  /** Where to. */
  url: string;
  /** The request's method. @default "POST" */
  method?: "POST" | "PUT" | "GET";
  /** The request's headers. */
  headers?: Record<string, string>;
  /** The request's body. */
  body?: BodyInit;
  /** The whole request's time, ms. */
  timeout: number;
  /** The client with the output's TLS settings ({@linkcode httpClientOf}). */
  client?: Deno.HttpClient | undefined;
  /** Strings never shown in an error (the output's keys and tokens). */
  secrets?: readonly string[];
  /** What the place is called in errors. @default "the server" */
  what?: string;
}

/** What a request came to: the result for the engine, and the answer's text and headers. */
export interface HttpOutcome {
  /** What the request came to, for the engine. */
  result: SendResult;
  /** The answer's body (empty when none came). */
  text: string;
  /** The answer's headers, when one came. */
  headers?: Headers;
}

/** `text` with every secret replaced by `***`. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.replaceAll(secret, "***");
  return out;
}

/**
 * Makes one request. Never throws: a network error, a timeout, a redirect or an answer that is
 * not a 2xx is a failure with its reason (`HTTP 503 Service Unavailable: ...`).
 *
 * @example
 * ```ts ignore
 * const { result } = await httpRequest({ url, body: "x", timeout: 30_000 }, signal);
 * ```
 */
export async function httpRequest(
  spec: HttpRequestSpec,
  signal: AbortSignal,
): Promise<HttpOutcome> {
  const timeout = AbortSignal.timeout(spec.timeout);
  const what = spec.what ?? "the server";
  let response: Response;
  try {
    response = await fetch(spec.url, {
      method: spec.method ?? "POST",
      headers: spec.headers,
      body: spec.body,
      signal: AbortSignal.any([signal, timeout]),
      redirect: "manual",
      client: spec.client,
    });
  } catch (error) {
    if (timeout.aborted) {
      return {
        result: {
          ok: false,
          error: `No answer from ${what} within ${spec.timeout / 1000}s (timeout)`,
        },
        text: "",
      };
    }
    const e = error as Error & { cause?: { code?: string; message?: string } };
    const cause = e.cause?.code ?? e.cause?.message;
    const message = redact(`${e.message}${cause ? ` (${cause})` : ""}`, spec.secrets);
    return { result: { ok: false, error: `Cannot reach ${what}: ${message}` }, text: "" };
  }
  const text = await response.text().catch(() => "");
  const headers = response.headers;
  if (response.ok) return { result: { ok: true, status: response.status }, text, headers };
  if (response.status >= 300 && response.status < 400) {
    const location = response.headers.get("location");
    return {
      result: {
        ok: false,
        status: response.status,
        error: `HTTP ${response.status} ${response.statusText}: ${what} redirects to ${
          location ? JSON.stringify(redact(location, spec.secrets)) : "another place"
        }, which is not followed (credentials and hits go only to the configured URL)`,
      },
      text,
      headers,
    };
  }
  const detail = redact(text.trim().slice(0, 300), spec.secrets);
  return {
    result: {
      ok: false,
      status: response.status,
      error: `HTTP ${response.status} ${response.statusText}${detail ? `: ${detail}` : ""}`,
    },
    text,
    headers,
  };
}

/** A body gzipped, for `Content-Encoding: gzip`. */
export async function gzipped(body: Uint8Array | string): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
