import assert from "node:assert/strict";
import { ChunkedDecoder, ChunkedError } from "./chunked.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Feeds `text` in pieces of `size` bytes: the body read, and the bytes left after it. */
function decode(text: string, size = Infinity): { body: string; rest: string; done: boolean } {
  const bytes = enc.encode(text);
  const decoder = new ChunkedDecoder();
  let body = "";
  let at = 0;
  while (at < bytes.length && !decoder.done) {
    const piece = bytes.subarray(at, Math.min(bytes.length, at + size));
    at += decoder.feed(piece, (part) => body += dec.decode(part));
  }
  return { body, rest: dec.decode(bytes.subarray(at)), done: decoder.done };
}

Deno.test("ChunkedDecoder reads chunks, extensions and trailers in any pieces, and stops at the body's end", () => {
  const text =
    '3\r\n{"a\r\n5;x=1;y="a b"\r\n":1}\n\r\n00A\r\n0123456789\r\n0;z\r\nX-T: y\r\n\r\nGET /';
  for (const size of [Infinity, 1, 2, 3, 7]) {
    assert.deepEqual(decode(text, size), {
      body: '{"a":1}\n0123456789',
      rest: "GET /",
      done: true,
    }, `pieces of ${size}`);
  }
  assert.equal(decode("5\r\nab").done, false, "incomplete");
});

Deno.test("ChunkedDecoder refuses what is not chunked framing", () => {
  const bad = [
    ["0x5\r\nabcde\r\n0\r\n\r\n", /not hexadecimal|extension/],
    ["5zz\r\nabcde\r\n0\r\n\r\n", /extension/],
    ["\r\nabc\r\n0\r\n\r\n", /not hexadecimal/],
    ["-5\r\nabcde\r\n0\r\n\r\n", /not hexadecimal/],
    ["5 \r\nabcde\r\n0\r\n\r\n", /extension/],
    ["5; a=1\r\nabcde\r\n0\r\n\r\n", /extension/],
    ["5;a=\r\nabcde\r\n0\r\n\r\n", /extension/],
    ["5\r\nabcdeXX0\r\n\r\n", /not followed by CRLF/],
    ["5\r\nabcde\n0\r\n\r\n", /not followed by CRLF/],
    ["5\nabcde\r\n0\r\n\r\n", /bare LF/],
    ["5\r\nabcde\r\n0\n\r\n", /bare LF/],
    ["5\rx\r\nabcde\r\n0\r\n\r\n", /bare CR/],
    ["fffffffffffffffffff\r\n", /too large/],
    ["5\r\nabcde\r\n0\r\nX-T\r\n\r\n", /trailer/],
    ["5\r\nabcde\r\n0\r\nX-T : y\r\n\r\n", /trailer/],
    [`5;${"x".repeat(5000)}\r\n`, /too long/],
  ] as const;
  for (const [text, reason] of bad) {
    for (const size of [Infinity, 1]) {
      assert.throws(
        () => decode(text, size),
        (e) => e instanceof ChunkedError && reason.test(e.message),
        `${JSON.stringify(text)} in pieces of ${size}`,
      );
    }
  }
});
