/**
 * Raw HTTP/1.1 requests for the differential test of hitship's request parser against llhttp
 * (Node's): every framing case of the hostile-senders issue by hand, and mutations of valid
 * requests (a byte changed, inserted or dropped, a line doubled, a header's case changed).
 *
 * @module
 */
import { random } from "./hits.ts";

/** One raw request, and what it is. */
export interface RawRequest {
  name: string;
  bytes: Uint8Array;
}

const enc = new TextEncoder();
const req = (name: string, text: string): RawRequest => ({ name, bytes: enc.encode(text) });

const BODY = '{"a":1}\n';
const CL = `POST /hits HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n`;

/** The cases written by hand: each framing rule, on both sides of it. */
export function handCases(): RawRequest[] {
  const chunked = (chunks: string) => `${CL}Transfer-Encoding: chunked\r\n\r\n${chunks}`;
  return [
    req("content-length", `${CL}Content-Length: 8\r\n\r\n${BODY}`),
    req("no body", "GET /hits HTTP/1.1\r\nHost: x\r\n\r\n"),
    req("HTTP/1.0 without Host", `POST /hits HTTP/1.0\r\nContent-Length: 8\r\n\r\n${BODY}`),
    req("query", `POST /hits?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n${BODY}`),
    req(
      "absolute form",
      `POST http://x/hits HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n${BODY}`,
    ),
    req("leading empty line", `\r\n${CL}Content-Length: 8\r\n\r\n${BODY}`),
    req("chunked", chunked(`8\r\n${BODY}\r\n0\r\n\r\n`)),
    req("chunked in pieces", chunked(`3\r\n{"a\r\n5\r\n":1}\n\r\n0\r\n\r\n`)),
    req("chunked upper hex", chunked(`A\r\n${BODY}xx\r\n0\r\n\r\n`)),
    req("chunked leading zeros", chunked(`0008\r\n${BODY}\r\n000\r\n\r\n`)),
    req("chunk extension", chunked(`8;name=value\r\n${BODY}\r\n0\r\n\r\n`)),
    req("chunk extension quoted", chunked(`8;name="a b"\r\n${BODY}\r\n0\r\n\r\n`)),
    req("chunk extension without value", chunked(`8;name\r\n${BODY}\r\n0\r\n\r\n`)),
    req("trailer", chunked(`8\r\n${BODY}\r\n0\r\nX-Trailer: 1\r\n\r\n`)),
    req("TE case", `${CL}Transfer-Encoding: Chunked\r\n\r\n8\r\n${BODY}\r\n0\r\n\r\n`),
    req(
      "CL and TE",
      `${CL}Content-Length: 8\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n${BODY}\r\n0\r\n\r\n`,
    ),
    req(
      "TE and CL",
      `${CL}Transfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n8\r\n${BODY}\r\n0\r\n\r\n`,
    ),
    req(
      "smuggled second request",
      `${CL}Content-Length: 36\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hits HTTP/1.1\r\nHost: x\r\n\r\n`,
    ),
    req("TE xchunked", `${CL}Transfer-Encoding: xchunked\r\n\r\n8\r\n${BODY}\r\n0\r\n\r\n`),
    req(
      "TE gzip, chunked",
      `${CL}Transfer-Encoding: gzip, chunked\r\n\r\n8\r\n${BODY}\r\n0\r\n\r\n`,
    ),
    req(
      "TE chunked, identity",
      `${CL}Transfer-Encoding: chunked, identity\r\n\r\n8\r\n${BODY}\r\n0\r\n\r\n`,
    ),
    req(
      "TE chunked twice",
      `${CL}Transfer-Encoding: chunked, chunked\r\n\r\n8\r\n${BODY}\r\n0\r\n\r\n`,
    ),
    req("TE identity", `${CL}Transfer-Encoding: identity\r\n\r\n${BODY}`),
    req(
      "TE two fields",
      `${CL}Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n${BODY}\r\n0\r\n\r\n`,
    ),
    req("CL +8", `${CL}Content-Length: +8\r\n\r\n${BODY}`),
    req("CL -8", `${CL}Content-Length: -8\r\n\r\n${BODY}`),
    req("CL hex", `${CL}Content-Length: 0x8\r\n\r\n${BODY}`),
    req("CL exponent", `${CL}Content-Length: 8e0\r\n\r\n${BODY}`),
    req("CL decimal", `${CL}Content-Length: 8.0\r\n\r\n${BODY}`),
    req("CL empty", `${CL}Content-Length: \r\n\r\n${BODY}`),
    req("CL space inside", `${CL}Content-Length: 8 8\r\n\r\n${BODY}`),
    req("CL list", `${CL}Content-Length: 8, 8\r\n\r\n${BODY}`),
    req("CL twice equal", `${CL}Content-Length: 8\r\nContent-Length: 8\r\n\r\n${BODY}`),
    req("CL twice unequal", `${CL}Content-Length: 8\r\nContent-Length: 7\r\n\r\n${BODY}`),
    req("CL leading zeros", `${CL}Content-Length: 008\r\n\r\n${BODY}`),
    req("CL huge", `${CL}Content-Length: 99999999999999999999999\r\n\r\n${BODY}`),
    req("space before colon", `${CL}Content-Length : 8\r\n\r\n${BODY}`),
    req("tab before colon", `${CL}Content-Length\t: 8\r\n\r\n${BODY}`),
    req("no colon", `${CL}Content-Length 8\r\n\r\n${BODY}`),
    req("empty name", `${CL}: 8\r\nContent-Length: 8\r\n\r\n${BODY}`),
    req("obs-fold", `${CL}X-A: 1\r\n 2\r\nContent-Length: 8\r\n\r\n${BODY}`),
    req("obs-fold tab", `${CL}X-A: 1\r\n\t2\r\nContent-Length: 8\r\n\r\n${BODY}`),
    req("bare LF head", `POST /hits HTTP/1.1\nHost: x\nContent-Length: 8\n\n${BODY}`),
    req("bare LF one line", `${CL}Content-Length: 8\n\r\n${BODY}`),
    req("bare CR", `${CL}X-A: 1\r2\r\nContent-Length: 8\r\n\r\n${BODY}`),
    req("NUL in value", `${CL}X-A: 1\x002\r\nContent-Length: 8\r\n\r\n${BODY}`),
    req("DEL in value", `${CL}X-A: 1\x7f2\r\nContent-Length: 8\r\n\r\n${BODY}`),
    req("tab in value", `${CL}X-A: 1\t2\r\nContent-Length: 8\r\n\r\n${BODY}`),
    req("no Host", `POST /hits HTTP/1.1\r\nContent-Length: 8\r\n\r\n${BODY}`),
    req("chunk size 0x", chunked(`0x8\r\n${BODY}\r\n0\r\n\r\n`)),
    req("chunk size 5zz", chunked(`5zz\r\n{"a":\r\n0\r\n\r\n`)),
    req("chunk size empty", chunked(`\r\n${BODY}\r\n0\r\n\r\n`)),
    req("chunk size negative", chunked(`-8\r\n${BODY}\r\n0\r\n\r\n`)),
    req("chunk size space", chunked(`8 \r\n${BODY}\r\n0\r\n\r\n`)),
    req("chunk data then XX", chunked(`8\r\n${BODY}XX0\r\n\r\n`)),
    req("chunk data then LF", chunked(`8\r\n${BODY}\n0\r\n\r\n`)),
    req("chunk line bare LF", chunked(`8\n${BODY}\r\n0\r\n\r\n`)),
    req("last chunk bare LF", chunked(`8\r\n${BODY}\r\n0\n\r\n`)),
    req("chunk size huge", chunked(`fffffffffffffffffff\r\n${BODY}\r\n0\r\n\r\n`)),
    req("trailer without colon", chunked(`8\r\n${BODY}\r\n0\r\nX-Trailer\r\n\r\n`)),
    req(
      "two spaces in request line",
      `POST  /hits HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n${BODY}`,
    ),
    req("HTTP/2.0", `POST /hits HTTP/2.0\r\nHost: x\r\nContent-Length: 8\r\n\r\n${BODY}`),
    req("lowercase version", `POST /hits http/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n${BODY}`),
    req("no version", `POST /hits\r\nHost: x\r\nContent-Length: 8\r\n\r\n${BODY}`),
    req("space in target", `POST /hi ts HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n${BODY}`),
    req("method lowercase", `post /hits HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n${BODY}`),
    req(
      "HTTP/1.0 TE",
      `POST /hits HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n${BODY}\r\n0\r\n\r\n`,
    ),
    req("Expect 100-continue", `${CL}Content-Length: 8\r\nExpect: 100-continue\r\n\r\n${BODY}`),
    req("Connection close", `${CL}Content-Length: 8\r\nConnection: close\r\n\r\n${BODY}`),
    req("cut body", `${CL}Content-Length: 20\r\n\r\n${BODY}`),
    req("cut chunked", chunked(`8\r\n${BODY}\r\n`)),
  ];
}

/** Valid requests that the mutations start from. */
function bases(): string[] {
  return [
    `${CL}Content-Length: 8\r\n\r\n${BODY}`,
    `${CL}Transfer-Encoding: chunked\r\n\r\n3\r\n{"a\r\n5;x=1\r\n":1}\n\r\n0\r\nX-T: y\r\n\r\n`,
    `POST /hits HTTP/1.0\r\nContent-Length: 8\r\nConnection: keep-alive\r\n\r\n${BODY}`,
    `PUT /hits?q=1 HTTP/1.1\r\nHost: example.com:8686\r\nAuthorization: Bearer abc\r\nContent-Length: 8\r\n\r\n${BODY}`,
  ];
}

const INSERTS = [
  " ",
  "\t",
  "\r",
  "\n",
  ":",
  ",",
  ";",
  "0",
  "a",
  "\x00",
  "\x7f",
  "\u00e9",
  '"',
  "-",
];

/** `n` mutations of the valid requests: a byte changed, inserted or dropped, a line doubled. */
export function mutations(n: number, seed = 9): RawRequest[] {
  const rand = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const out: RawRequest[] = [];
  for (let i = 0; i < n; i++) {
    const base = pick(bases());
    // Mutate the head and the framing, where parsers differ; the body's bytes rarely matter.
    const headEnd = base.indexOf("\r\n\r\n") + 4;
    const span = rand() < 0.75 ? headEnd : base.length;
    const at = Math.floor(rand() * span);
    let text: string;
    let what: string;
    switch (Math.floor(rand() * 5)) {
      case 0:
        text = base.slice(0, at) + pick(INSERTS) + base.slice(at + 1);
        what = `byte ${at} changed`;
        break;
      case 1:
        text = base.slice(0, at) + pick(INSERTS) + base.slice(at);
        what = `byte inserted at ${at}`;
        break;
      case 2:
        text = base.slice(0, at) + base.slice(at + 1);
        what = `byte ${at} dropped`;
        break;
      case 3: {
        const lines = base.slice(0, headEnd - 4).split("\r\n");
        const k = 1 + Math.floor(rand() * (lines.length - 1));
        lines.splice(k, 0, lines[k]!);
        text = lines.join("\r\n") + base.slice(headEnd - 4);
        what = `line ${k} doubled`;
        break;
      }
      default: {
        const lines = base.slice(0, headEnd - 4).split("\r\n");
        const k = 1 + Math.floor(rand() * (lines.length - 1));
        lines[k] = lines[k]!.replace(
          /^[^:]*/,
          (name) => rand() < 0.5 ? name.toUpperCase() : name.toLowerCase(),
        );
        text = lines.join("\r\n") + base.slice(headEnd - 4);
        what = `line ${k} case changed`;
      }
    }
    out.push({ name: `mutation ${i}: ${what}`, bytes: enc.encode(text) });
  }
  return out;
}
