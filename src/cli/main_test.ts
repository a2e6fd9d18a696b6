import assert from "node:assert/strict";
import { FakeClock } from "../base/clock.ts";
import { newInputStatus, newOutputStatus, type StatusDocument } from "../status/status.ts";
import { main } from "./main.ts";

function statusWith(delivered: number, oldestAt: string | null): StatusDocument {
  const input = newInputStatus("file", "/var/log/wallarm/hits.ndjson");
  const soar = { ...newOutputStatus("insightconnect"), delivered_hits: delivered };
  soar.pending_hits = oldestAt ? 40 : 0;
  soar.oldest_pending_at = oldestAt;
  return {
    version: 1,
    updated_at: new Date(0).toISOString(),
    pid: 1,
    journal: { bytes: 0, segments: 1 },
    input,
    inputs: { input },
    outputs: { soar },
    last_config_error: null,
  };
}

Deno.test("status --watch redraws every interval with each output's rate and lag", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/status.json`;
  const clock = new FakeClock(1_700_000_000_000);
  await Deno.writeTextFile(path, JSON.stringify(statusWith(100, null)));
  const draws: string[] = [];
  const done = main(["status", "--watch", "--interval", "2s", "--count", "3", "-s", path], {
    plugins: [],
    clock,
    stdout: (text) => void draws.push(text),
  });
  await clock.waitForTimers(1);
  assert.equal(draws.length, 1);
  // 2 s later, 300 more delivered, and the oldest pending hit is 125 s old.
  await Deno.writeTextFile(
    path,
    JSON.stringify(statusWith(400, new Date(clock.now() + 2000 - 125_000).toISOString())),
  );
  await clock.advance(2000);
  await clock.waitForTimers(1);
  await clock.advance(2000);
  assert.equal(await done, 0);
  assert.equal(draws.length, 3);
  assert.ok(draws.every((d) => d.startsWith("\x1b[H\x1b[2J")), "each draw clears the screen");
  const row = (draw: string) => draw.split("\n").find((l) => l.startsWith("soar"))!.split(/\s+/);
  const header = draws[1]!.split("\n").find((l) => l.startsWith("OUTPUT"))!.split(/\s{2,}/);
  const at = (name: string) => header.indexOf(name);
  assert.ok(!draws[0]!.includes("HITS/S"), "no rate before a second draw");
  assert.equal(row(draws[1]!)[at("HITS/S")], "150.0");
  assert.equal(row(draws[1]!)[at("LAG")], "2m05s");
  assert.equal(row(draws[2]!)[at("HITS/S")], "0.0");
});

Deno.test("status --watch takes no --json and a sane --interval", async () => {
  const errors: string[] = [];
  const env = { plugins: [], stdout: () => {}, stderr: (t: string) => void errors.push(t) };
  assert.equal(await main(["status", "--watch", "--json", "-s", "x"], env), 2);
  assert.equal(await main(["status", "--watch", "--interval", "5ms", "-s", "x"], env), 2);
  assert.match(errors.join(""), /--interval must be a duration of at least 100ms/);
});
