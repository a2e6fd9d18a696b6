import assert from "node:assert/strict";
import { formatMessage, type MessageContext } from "./format.ts";

const context: MessageContext = {
  facility: 16,
  hostname: "node 1",
  appName: "wallarm",
  version: "0.1.0",
};
const hit = {
  time: "1687241470",
  request_id: "r1",
  ip: "10.0.0.1",
  domain: "shop|example=com",
  method: "GET",
  uri: '/a]b"c\\d=e|f\ng\th/日本',
  status_code: 403,
  attack_type: "xss",
  block_status: "blocked",
  remote_country: null,
};
const line = JSON.stringify(hit);

Deno.test("rfc5424: PRI from facility and block_status, UTC time, safe header fields, escaped structured data, the hit as MSG", () => {
  const message = formatMessage("rfc5424", context, line, hit, 1687241470, "hit");
  assert.equal(
    message,
    `<132>1 2023-06-20T06:11:10Z node_1 wallarm - hit [hit@32473 request_id="r1" ip="10.0.0.1" ` +
      `domain="shop|example=com" method="GET" uri="/a\\]b\\"c\\\\d=e|f\\u000ag\\u0009h/日本" ` +
      `status_code="403" attack_type="xss" block_status="blocked"] ${line}`,
  );
  assert.ok(!message.includes("\n"), "no line break, for newline framing");
});

Deno.test("cef: header fields escape | and \\, extension values escape = and \\ and line breaks; msg= holds the hit", () => {
  const message = formatMessage("cef", context, line, hit, 1687241470, "hit");
  assert.ok(
    message.startsWith(
      "<132>Jun 20 06:11:10 node_1 wallarm: CEF:0|Wallarm|hitship|0.1.0|xss|xss attack|7|rt=1687241470000 ",
    ),
  );
  assert.ok(message.includes(" dhost=shop|example\\=com "));
  assert.ok(message.includes(' request=/a]b"c\\\\d\\=e|f\\ng\th/日本 '));
  const msg = message.slice(message.indexOf(" msg=") + 5)
    .replace(/\\(.)/g, (_m, c) => c === "n" ? "\n" : c === "r" ? "\r" : c);
  assert.deepEqual(JSON.parse(msg), hit);
});

Deno.test("leef: tab-separated attributes without tabs or line breaks inside; hit= holds the hit", () => {
  const message = formatMessage("leef", context, line, hit, 1687241470, "hit");
  const [head, ...attributes] = message.split("\t");
  assert.ok(
    head!.startsWith(
      "<132>Jun 20 06:11:10 node_1 wallarm: LEEF:1.0|Wallarm|hitship|0.1.0|xss|devTime=Jun 20 2023 06:11:10",
    ),
  );
  assert.ok(attributes.includes('url=/a]b"c\\d=e|f g h/日本'));
  assert.deepEqual(JSON.parse(attributes.find((a) => a.startsWith("hit="))!.slice(4)), hit);
});

Deno.test("rfc3164: a monitored hit is a notice (severity 5)", () => {
  const monitored = { ...hit, block_status: "monitored" };
  const message = formatMessage("rfc3164", context, line, monitored, 1687241470, "hit");
  assert.equal(message, `<133>Jun 20 06:11:10 node_1 wallarm: ${line}`);
});
