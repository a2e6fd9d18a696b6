/**
 * An HTTP/1.1 request head read strictly (RFC 9112): where it ends in a stream of bytes, and what
 * it says (method, target, headers, how its body is framed). Whatever two readers could take in
 * two ways is refused, so that hitship never reads a request differently from a proxy in front of
 * it: `Content-Length` is only digits and given once, never beside `Transfer-Encoding`, whose last
 * coding must be `chunked`; no whitespace before a colon, no folded lines, no bare CR or LF.
 *
 * @module
 */

/** How a request's body is framed. */
export type Framing =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" };

/** A request head, read. */
export interface RequestHead {
  /** The method, as sent (methods are case-sensitive). */
  method: string;
  /** The request target, as sent. */
  target: string;
  /** The path of the target, without its query. */
  path: string;
  /** `HTTP/1.0` or `HTTP/1.1`. */
  version: "HTTP/1.0" | "HTTP/1.1";
  /** The header fields; repeated ones joined with `, `. */
  headers: Headers;
  /** How the body is framed. */
  framing: Framing;
  /** Whether the connection stays open after the answer, as the request asks. */
  keepAlive: boolean;
  /** `Expect: 100-continue` was sent. */
  expectContinue: boolean;
}

/** Why a head cannot be taken: the answer's status and a reason for it. */
export class HeadError extends Error {
  /**
   * @param status The status to answer with (400, 501, 505).
   * @param message Why, for the answer's body.
   */
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;

/** tchar (RFC 9110 §5.6.2): a token's characters. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

/** Whether every character of `text` is a tchar, and there is one. */
export function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff || TCHAR[c] !== 1) return false;
  }
  return true;
}

/**
 * Where the head that starts at `from` ends (the index after its empty line), -1 while it is
 * incomplete, or a {@linkcode HeadError} for a bare LF or a CR not followed by LF: the head is
 * refused at once, not waited for.
 */
export function headEnd(bytes: Uint8Array, from: number, to: number): number | HeadError {
  for (let i = bytes.indexOf(LF, from); i >= 0 && i < to; i = bytes.indexOf(LF, i + 1)) {
    if (i === from || bytes[i - 1] !== CR) return new HeadError(400, "A line ends in a bare LF");
    if (i - 3 >= from && bytes[i - 2] === LF && bytes[i - 3] === CR) return i + 1;
  }
  // A CR must be followed by LF: one followed by anything else is refused now.
  for (let i = bytes.indexOf(CR, from); i >= 0 && i < to - 1; i = bytes.indexOf(CR, i + 1)) {
    if (bytes[i + 1] !== LF) return new HeadError(400, "A line holds a bare CR");
  }
  return -1;
}

/** Field values: visible characters, obs-text, space and tab (no other control character). */
function isFieldValue(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== HTAB) || c === 0x7f || c > 0xff) return false;
  }
  return true;
}

/** The elements of a comma-separated list, trimmed, without empty ones. */
function listOf(value: string): string[] {
  return value.split(",").map((e) => e.trim()).filter((e) => e !== "");
}

const decoder = new TextDecoder("latin1");

/**
 * Reads a request head: `bytes` is the head, from the request line to its empty line included
 * (leading empty lines, which RFC 9112 §2.2 lets a server ignore, included too).
 *
 * @returns The head, or the {@linkcode HeadError} to answer with (the connection is then closed).
 *
 * @example
 * ```ts
 * import { parseHead } from "./head.ts";
 * const text = "POST /hits HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n";
 * const head = parseHead(new TextEncoder().encode(text));
 * // head.framing: { kind: "length", length: 2 }
 * ```
 */
export function parseHead(bytes: Uint8Array): RequestHead | HeadError {
  // latin1: one character a byte, so obs-text survives and is seen as such.
  let text = decoder.decode(bytes);
  while (text.startsWith("\r\n")) text = text.slice(2);
  if (!text.endsWith("\r\n\r\n")) return new HeadError(400, "The head does not end in CRLF CRLF");
  const lines = text.slice(0, -4).split("\r\n");
  const request = requestLine(lines[0]!);
  if (request instanceof HeadError) return request;
  const fields = headerFields(lines);
  if (fields instanceof HeadError) return fields;
  const { headers } = fields;
  if (request.version === "HTTP/1.1" && fields.hosts !== 1) {
    return new HeadError(
      400,
      fields.hosts === 0 ? "No Host header field" : "More than one Host field",
    );
  }
  const framing = framingOf(headers, request.version, fields);
  if (framing instanceof HeadError) return framing;
  const connection = listOf(headers.get("connection") ?? "").map((c) => c.toLowerCase());
  return {
    ...request,
    headers,
    framing,
    keepAlive: request.version === "HTTP/1.1"
      ? !connection.includes("close")
      : connection.includes("keep-alive"),
    expectContinue: headers.get("expect")?.toLowerCase() === "100-continue",
  };
}

/** The request line: `METHOD SP TARGET SP VERSION`, the target a path or an absolute URL. */
function requestLine(
  line: string,
): Pick<RequestHead, "method" | "target" | "path" | "version"> | HeadError {
  const parts = line.split(" ");
  if (parts.length !== 3) {
    return new HeadError(400, "The request line is not METHOD SP TARGET SP VERSION");
  }
  const [method, target, version] = parts as [string, string, string];
  if (!isToken(method)) return new HeadError(400, "The method is not a token");
  if (!/^[\x21-\x7e]+$/.test(target)) return new HeadError(400, "The request target is not valid");
  if (!/^HTTP\/\d\.\d$/.test(version)) return new HeadError(400, "The HTTP version is not valid");
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    return new HeadError(505, `${version} is not served: use HTTP/1.1`);
  }
  let path: string;
  if (target.startsWith("/")) {
    const end = target.search(/[?#]/);
    path = end < 0 ? target : target.slice(0, end);
  } else if (/^https?:\/\//i.test(target)) {
    try {
      path = new URL(target).pathname;
    } catch {
      return new HeadError(400, "The request target is not valid");
    }
  } else {
    return new HeadError(400, "The request target is not a path or an absolute URL");
  }
  return { method, target, path, version };
}

/** The header fields of the head's lines (the request line is `lines[0]`), and what framing needs. */
function headerFields(
  lines: string[],
): { headers: Headers; lengths: number; lengthShape: boolean; hosts: number } | HeadError {
  const headers = new Headers();
  let lengths = 0;
  let lengthShape = false;
  let hosts = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const first = line.charCodeAt(0);
    if (first === SP || first === HTAB) {
      return new HeadError(400, "A header field is folded over lines (obs-fold)");
    }
    const colon = line.indexOf(":");
    if (colon <= 0) return new HeadError(400, "A header line has no field name and colon");
    const name = line.slice(0, colon);
    if (!isToken(name)) {
      return new HeadError(
        400,
        /\s$/.test(name)
          ? "Whitespace between a header field name and its colon"
          : "A header field name is not a token",
      );
    }
    const raw = line.slice(colon + 1);
    const value = raw.replace(/^[ \t]+|[ \t]+$/g, "");
    if (!isFieldValue(value)) {
      return new HeadError(400, `The ${name} header field holds a control character`);
    }
    const lower = name.toLowerCase();
    if (lower === "content-length") {
      lengths++;
      // Only digits: OWS before them, spaces after (llhttp refuses a tab there).
      lengthShape = /^[ \t]*\d+ *$/.test(raw);
    }
    if (lower === "transfer-encoding" && /(,|\t)[ \t]*$/.test(raw)) {
      // A list that ends empty, or in a tab: readers differ on it (llhttp refuses both).
      return new HeadError(400, "Transfer-Encoding ends in an empty element or a tab");
    }
    if (lower === "host") hosts++;
    headers.append(name, value);
  }
  return { headers, lengths, lengthShape, hosts };
}

/** How the body is framed: by `Transfer-Encoding` (ending in `chunked`), by `Content-Length`. */
function framingOf(
  headers: Headers,
  version: RequestHead["version"],
  fields: { lengths: number; lengthShape: boolean },
): Framing | HeadError {
  const transferEncoding = headers.get("transfer-encoding");
  const contentLength = headers.get("content-length");
  if (transferEncoding !== null) {
    if (contentLength !== null) {
      return new HeadError(
        400,
        "Both Content-Length and Transfer-Encoding: the framing is ambiguous",
      );
    }
    if (version === "HTTP/1.0") {
      return new HeadError(400, "Transfer-Encoding in an HTTP/1.0 request");
    }
    const codings = listOf(transferEncoding).map((c) => c.toLowerCase());
    if (codings.at(-1) !== "chunked") {
      return new HeadError(400, "Transfer-Encoding does not end in chunked");
    }
    if (codings.indexOf("chunked") !== codings.length - 1) {
      return new HeadError(400, "Transfer-Encoding applies chunked more than once");
    }
    const unknown = codings.find((c) => c !== "chunked");
    if (unknown !== undefined) {
      return new HeadError(501, `The transfer coding ${JSON.stringify(unknown)} is not served`);
    }
    return { kind: "chunked" };
  }
  if (contentLength === null) return { kind: "none" };
  if (fields.lengths > 1) return new HeadError(400, "Content-Length is given more than once");
  if (!fields.lengthShape) return new HeadError(400, "Content-Length is not a number of bytes");
  // Past 2^53 a length is not exact; any such length is past every limit anyway.
  const length = contentLength.length > 15 ? Number.MAX_SAFE_INTEGER : Number(contentLength);
  return length > 0 ? { kind: "length", length } : { kind: "none" };
}
