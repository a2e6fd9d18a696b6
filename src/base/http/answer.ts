/**
 * An HTTP/1.1 answer as bytes: the status line, `content-length` and `connection`, the answer's
 * own headers, and its body (none for a HEAD request).
 *
 * @module
 */

/** An answer. */
export interface HttpAnswer {
  /** The HTTP status. */
  status: number;
  /** Headers besides `content-length` and `connection`. */
  headers?: Record<string, string>;
  /** The body. @default empty */
  body?: string;
}

const STATUS_TEXT: Record<number, string> = {
  100: "Continue",
  200: "OK",
  400: "Bad Request",
  401: "Unauthorized",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

const encoder = new TextEncoder();

/**
 * The bytes of `answer`.
 *
 * @param options.head The request was HEAD: the body's length is sent, not the body.
 * @param options.keepAlive The connection stays open after it.
 *
 * @example
 * ```ts
 * import { answerBytes } from "./answer.ts";
 * const bytes = answerBytes({ status: 200, body: "ok\n" }, { head: false, keepAlive: true });
 * new TextDecoder().decode(bytes).split("\r\n")[0]; // "HTTP/1.1 200 OK"
 * ```
 */
export function answerBytes(
  answer: HttpAnswer,
  options: { head: boolean; keepAlive: boolean },
): Uint8Array {
  const body = encoder.encode(answer.body ?? "");
  const lines = [
    `HTTP/1.1 ${answer.status} ${STATUS_TEXT[answer.status] ?? ""}`,
    `content-length: ${body.length}`,
    `connection: ${options.keepAlive ? "keep-alive" : "close"}`,
    ...Object.entries(answer.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
    "",
    "",
  ];
  const head = encoder.encode(lines.join("\r\n"));
  const data = new Uint8Array(head.length + (options.head ? 0 : body.length));
  data.set(head);
  if (!options.head) data.set(body, head.length);
  return data;
}

/** A plain-text answer: `text` and a newline. */
export function plainAnswer(
  status: number,
  text: string,
  headers: Record<string, string> = {},
): HttpAnswer {
  return {
    status,
    body: text + "\n",
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  };
}
