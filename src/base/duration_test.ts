import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "./duration.ts";
import { parseSize } from "./size.ts";

Deno.test("parseDuration() reads ms, s, m, h and d", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("10s"), 10_000);
  assert.equal(parseDuration("10m"), 600_000);
  assert.equal(parseDuration("12h"), 43_200_000);
  assert.equal(parseDuration("1d"), 86_400_000);
  assert.equal(parseDuration("1.5s"), 1_500);
  assert.equal(parseDuration("0s"), 0);
});

Deno.test("parseDuration() rejects numbers without a unit and unknown units", () => {
  assert.equal(parseDuration("10"), undefined);
  assert.equal(parseDuration("10 minutes"), undefined);
  assert.equal(parseDuration("-1s"), undefined);
  assert.equal(parseDuration("1w"), undefined);
  assert.equal(parseDuration(""), undefined);
});

Deno.test("formatDuration() gives the largest exact unit", () => {
  assert.equal(formatDuration(600_000), "10m");
  assert.equal(formatDuration(90_000), "90s");
  assert.equal(formatDuration(1_500), "1500ms");
  assert.equal(formatDuration(0), "0ms");
  assert.equal(formatDuration(43_200_000), "12h");
});

Deno.test("parseSize() reads plain bytes, SI and binary units", () => {
  assert.equal(parseSize(1024), 1024);
  assert.equal(parseSize("1024"), 1024);
  assert.equal(parseSize("512KiB"), 512 * 1024);
  assert.equal(parseSize("64MiB"), 64 * 1024 * 1024);
  assert.equal(parseSize("1GB"), 1_000_000_000);
  assert.equal(parseSize("1 mb"), 1_000_000);
  assert.equal(parseSize("lots"), undefined);
  assert.equal(parseSize(-5), undefined);
  assert.equal(parseSize(1.5), undefined);
});
