// The llhttp side of test/http_parser_differential_test.ts: Node's own HTTP parser, as Node's
// HTTP server uses it (strict: no lenient flags), plus the one check Node's server adds (an
// HTTP/1.1 request without Host is refused) and the routing both sides have (POST, PUT or GET
// of /hits, with or without a query, in origin or absolute form). It reads one raw request per line of stdin
// (base64), and writes one verdict per line: {"served":true,"body":"<base64>"} when the first
// message of the bytes is complete and valid, else {"served":false,"error":"..."}.
"use strict";
const { HTTPParser, methods } = process.binding("http_parser");
const readline = require("node:readline");

function verdict(input) {
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.REQUEST, {});
  let head;
  const body = [];
  let complete = false;
  parser[HTTPParser.kOnHeadersComplete | 0] = (major, minor, headers, method, url) => {
    head = { major, minor, headers, method: methods[method], url };
    return 0;
  };
  parser[HTTPParser.kOnBody | 0] = (chunk) => body.push(Buffer.from(chunk));
  parser[HTTPParser.kOnMessageComplete | 0] = () => {
    complete = true;
  };
  let error;
  const result = parser.execute(input);
  if (result instanceof Error) error = result.code;
  // An error after the first message is the next request's, not this one's.
  if (!complete) return { served: false, error: error ?? "incomplete" };
  const names = [];
  for (let i = 0; i < head.headers.length; i += 2) names.push(head.headers[i].toLowerCase());
  if (head.major === 1 && head.minor === 1 && !names.includes("host")) {
    return { served: false, error: "no Host (Node's server)" };
  }
  let path;
  try {
    path = new URL(head.url, "http://x").pathname;
  } catch {
    path = "";
  }
  if (path !== "/hits" || !["GET", "POST", "PUT"].includes(head.method)) {
    return { served: false, error: `not routed: ${head.method} ${path}` };
  }
  return { served: true, body: Buffer.concat(body).toString("base64") };
}

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  process.stdout.write(JSON.stringify(verdict(Buffer.from(line, "base64"))) + "\n");
});
process.stdout.write(
  JSON.stringify({ node: process.version, llhttp: process.versions.llhttp }) + "\n",
);
