import assert from "node:assert/strict";
import { compileFilter, filterSchema } from "./filter.ts";

const hit = {
  attack_type: "sqli",
  block_status: "blocked",
  method: "POST",
  domain: "api.shop.example.com",
  application_id: [3, 7],
  status_code: 403,
  ip: "10.1.2.3",
};

Deno.test("compileFilter() passes everything when the filter is empty", () => {
  assert.equal(compileFilter(undefined), undefined);
  assert.equal(compileFilter({}), undefined);
});

Deno.test("compileFilter() needs every given field to match", () => {
  const pass = compileFilter({ attack_type: ["sqli", "rce"], block_status: ["blocked"] })!;
  assert.equal(pass(hit), true);
  assert.equal(pass({ ...hit, attack_type: "xss" }), false);
  assert.equal(pass({ ...hit, block_status: "monitored" }), false);
});

Deno.test("compileFilter() matches domains exactly or by *.suffix", () => {
  const pass = compileFilter({ domain: ["shop.example.org", "*.example.com"] })!;
  assert.equal(pass(hit), true);
  assert.equal(pass({ ...hit, domain: "SHOP.example.org" }), true);
  assert.equal(pass({ ...hit, domain: "example.com" }), false);
  assert.equal(pass({ ...hit, domain: "evil-example.com" }), false);
});

Deno.test("compileFilter() matches status codes and ranges, methods, application ids", () => {
  assert.equal(compileFilter({ status_code: ["400-499"] })!(hit), true);
  assert.equal(compileFilter({ status_code: [200, "500-599"] })!(hit), false);
  assert.equal(compileFilter({ method: ["post"] })!(hit), true);
  assert.equal(compileFilter({ application_id: [7] })!(hit), true);
  assert.equal(compileFilter({ application_id: [8] })!(hit), false);
});

Deno.test("compileFilter() matches IPv4 and IPv6 CIDR blocks and single addresses", () => {
  const pass = compileFilter({ ip: ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"] })!;
  assert.equal(pass(hit), true);
  assert.equal(pass({ ...hit, ip: "11.0.0.1" }), false);
  assert.equal(pass({ ...hit, ip: "2001:db8:1::9" }), true);
  assert.equal(pass({ ...hit, ip: "192.0.2.7" }), true);
  assert.equal(pass({ ...hit, ip: "192.0.2.8" }), false);
});

Deno.test("filterSchema rejects unknown fields, bad ranges and bad CIDR blocks", () => {
  assert.equal(filterSchema.safeParse({ attack: ["sqli"] }).success, false);
  assert.equal(filterSchema.safeParse({ status_code: ["4xx"] }).success, false);
  assert.equal(filterSchema.safeParse({ ip: ["10.0.0.0/33"] }).success, false);
  assert.equal(filterSchema.safeParse({ ip: ["example.com"] }).success, false);
  assert.equal(filterSchema.safeParse({ ip: ["10.0.0.0/8"] }).success, true);
});
