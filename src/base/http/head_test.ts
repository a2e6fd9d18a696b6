import assert from "node:assert/strict";
import { headEnd, HeadError, parseHead, type RequestHead } from "./head.ts";

const enc = new TextEncoder();
const parse = (text: string) => parseHead(enc.encode(text));
const H = "POST /hits HTTP/1.1\r\nHost: x\r\n";

function ok(text: string): RequestHead {
  const head = parse(text);
  if (head instanceof HeadError) throw new Error(`${head.status} ${head.message}`);
  return head;
}

function refused(text: string, status: number, reason?: RegExp) {
  const head = parse(text);
  assert.ok(head instanceof HeadError, `taken: ${JSON.stringify(text)}`);
  assert.equal(head.status, status, `${head.message}: ${JSON.stringify(text)}`);
  if (reason) assert.match(head.message, reason);
}

Deno.test("parseHead() reads the method, path, headers, framing and keep-alive of a request", () => {
  const head = ok(`${H}Content-Length: 8\r\nX-A:  a b \t\r\n\r\n`);
  assert.equal(head.method, "POST");
  assert.equal(head.path, "/hits");
  assert.equal(head.version, "HTTP/1.1");
  assert.deepEqual(head.framing, { kind: "length", length: 8 });
  assert.equal(head.headers.get("x-a"), "a b");
  assert.equal(head.keepAlive, true);
  assert.deepEqual(ok(`${H}Transfer-Encoding: ,Chunked\r\n\r\n`).framing, { kind: "chunked" });
  assert.deepEqual(ok(`${H}Content-Length: 0\r\n\r\n`).framing, { kind: "none" });
  assert.equal(ok("GET /hits?q=1#f HTTP/1.1\r\nHost: x\r\n\r\n").path, "/hits");
  assert.equal(ok("GET http://h:1/hits?q HTTP/1.1\r\nHost: x\r\n\r\n").path, "/hits");
  assert.equal(ok(`${H}Connection: Keep-Alive, close\r\n\r\n`).keepAlive, false);
  assert.equal(ok("GET / HTTP/1.0\r\n\r\n").keepAlive, false);
  assert.equal(ok("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keepAlive, true);
  assert.equal(ok(`${H}Expect: 100-Continue\r\nContent-Length: 1\r\n\r\n`).expectContinue, true);
  assert.equal(ok(`\r\n\r\n${H}\r\n`).method, "POST", "empty lines before the request line");
});

Deno.test("parseHead() refuses ambiguous framing: CL with TE, TE not ending in chunked, odd lengths", () => {
  refused(`${H}Content-Length: 8\r\nTransfer-Encoding: chunked\r\n\r\n`, 400, /ambiguous/);
  refused(`${H}Transfer-Encoding: chunked\r\nContent-Length: 8\r\n\r\n`, 400, /ambiguous/);
  refused(`${H}Transfer-Encoding: xchunked\r\n\r\n`, 400, /does not end in chunked/);
  refused(`${H}Transfer-Encoding: chunked, identity\r\n\r\n`, 400, /does not end in chunked/);
  refused(`${H}Transfer-Encoding: chunked, chunked\r\n\r\n`, 400, /more than once/);
  refused(`${H}Transfer-Encoding: chunked,\r\n\r\n`, 400, /empty element/);
  refused(`${H}Transfer-Encoding: gzip, chunked\r\n\r\n`, 501, /"gzip" is not served/);
  refused(`${H}Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n`, 501);
  refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, /HTTP\/1\.0/);
  for (const value of ["+378", "0x179", "38e1", "377.0", "", "-1", "1 2", "8, 8", "8\t"]) {
    refused(`${H}Content-Length: ${value}\r\n\r\n`, 400, /not a number of bytes/);
  }
  refused(`${H}Content-Length: 8\r\nContent-Length: 8\r\n\r\n`, 400, /more than once/);
  assert.deepEqual(ok(`${H}Content-Length:\t008 \r\n\r\n`).framing, { kind: "length", length: 8 });
  assert.equal(
    (ok(`${H}Content-Length: 99999999999999999999\r\n\r\n`).framing as { length: number }).length,
    Number.MAX_SAFE_INTEGER,
    "past every limit",
  );
});

Deno.test("parseHead() refuses malformed heads: whitespace before a colon, folds, controls, Host, versions", () => {
  refused(`${H}Content-Length : 8\r\n\r\n`, 400, /Whitespace between/);
  refused(`${H}X-A: 1\r\n 2\r\n\r\n`, 400, /obs-fold/);
  refused(`${H}X-A: 1\r\n\t2\r\n\r\n`, 400, /obs-fold/);
  refused(`${H}X-A: 1\x002\r\n\r\n`, 400, /control character/);
  refused(`${H}X-\u00e9: 1\r\n\r\n`, 400, /not a token/);
  refused(`${H}: 1\r\n\r\n`, 400, /no field name/);
  refused("POST /hits HTTP/1.1\r\n\r\n", 400, /No Host/);
  refused(`${H}Host: y\r\n\r\n`, 400, /More than one Host/);
  refused("POST  /hits HTTP/1.1\r\nHost: x\r\n\r\n", 400, /request line/);
  refused("POST /hits\r\nHost: x\r\n\r\n", 400, /request line/);
  refused("POST /hits http/1.1\r\nHost: x\r\n\r\n", 400, /version/);
  refused("POST /hits HTTP/2.0\r\nHost: x\r\n\r\n", 505);
  refused("POST /h\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n", 400, /target/);
  refused("POST hits HTTP/1.1\r\nHost: x\r\n\r\n", 400, /target/);
});

Deno.test("headEnd() finds the end of a head, and refuses a bare LF or CR at once", () => {
  const bytes = enc.encode(`${H}\r\nbody`);
  assert.equal(headEnd(bytes, 0, bytes.length), bytes.length - 4);
  assert.equal(headEnd(bytes, 0, 10), -1, "incomplete");
  const bare = enc.encode("POST /hits HTTP/1.1\nHost: x\n");
  const lf = headEnd(bare, 0, bare.length);
  assert.ok(lf instanceof HeadError && /bare LF/.test(lf.message));
  const cr = enc.encode("POST /hits HTTP/1.1\rHost: x");
  const crError = headEnd(cr, 0, cr.length);
  assert.ok(crError instanceof HeadError && /bare CR/.test(crError.message));
  const crAtEnd = enc.encode("POST /hits HTTP/1.1\r");
  assert.equal(headEnd(crAtEnd, 0, crAtEnd.length), -1, "a CR at the end waits for its LF");
});
