import assert from "node:assert/strict";
import { AlertWatcher } from "./alerts.ts";
import type { SystemEvent } from "../sdk/output.ts";

const sqli = { attack_type: "sqli", domain: "a.example.com", ip: "10.0.0.1", uri: "/x" };
const xss = { ...sqli, attack_type: "xss" };

Deno.test("AlertWatcher fires once when more than threshold matching hits arrive within the period", () => {
  const events: SystemEvent[] = [];
  const watcher = new AlertWatcher([
    { name: "sqli-burst", filter: { attack_type: ["sqli"] }, threshold: 3, period: 60_000 },
  ], (e) => events.push(e));
  for (let i = 0; i < 3; i++) watcher.observe(sqli, i * 1000);
  watcher.observe(xss, 3000);
  assert.equal(events.length, 0, "3 matching hits are not more than 3");
  watcher.observe(sqli, 4000);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.name, "hits_threshold_exceeded");
  assert.equal(events[0]!.kind, "alerts");
  assert.deepEqual(events[0]!.details.alert, "sqli-burst");
  for (let i = 0; i < 10; i++) watcher.observe(sqli, 5000 + i);
  assert.equal(events.length, 1, "at most one event per period");
  for (let i = 0; i < 4; i++) watcher.observe(sqli, 64_000 + i);
  assert.equal(events.length, 2, "fires again in the next period");
});

Deno.test("AlertWatcher does not fire when the hits are spread wider than the period", () => {
  const events: SystemEvent[] = [];
  const watcher = new AlertWatcher(
    [{ name: "slow", threshold: 2, period: 10_000 }],
    (e) => events.push(e),
  );
  for (let i = 0; i < 20; i++) watcher.observe(xss, i * 6000);
  assert.equal(events.length, 0);
});
