/** What the output tests share: hits of the node's variety, and the check that each arrived once. */
import assert from "node:assert/strict";
import { makeHit } from "./hits.ts";

/** The hits of a run: the node's variety, each with its own request_id. */
export function hitLines(count: number, from = 0): string[] {
  return Array.from({ length: count }, (_, i) => JSON.stringify(makeHit(from + i)));
}

/**
 * Each sent hit arrived, equal (as JSON) to what was sent; with `exact`, once and nothing else.
 */
export function assertEachOnce(received: unknown[], sent: string[], exact = true): void {
  const byId = new Map<string, unknown>();
  const seen = new Map<string, number>();
  for (const hit of received) {
    const id = (hit as { request_id: string }).request_id;
    seen.set(id, (seen.get(id) ?? 0) + 1);
    byId.set(id, hit);
  }
  const missing = sent.filter((line) => !byId.has(JSON.parse(line).request_id));
  assert.equal(missing.length, 0, `${missing.length} hits missing, e.g. ${missing[0]}`);
  for (const line of sent) {
    const hit = JSON.parse(line);
    assert.deepEqual(byId.get(hit.request_id), hit);
  }
  if (exact) {
    const twice = [...seen.values()].filter((n) => n > 1).length;
    assert.equal(twice, 0, `${twice} hits arrived more than once`);
    assert.equal(received.length, sent.length);
  }
}

/** A config with one output named `out`, given as YAML lines. */
export function oneOutput(dir: string, output: string, top = ""): string {
  return `data_dir: ${dir}/data
status_file: ${dir}/status.json
${top.includes("shutdown_timeout") ? "" : "shutdown_timeout: 30s"}
${top}
outputs:
  - name: out
${output.trim().split("\n").map((line) => `    ${line}`).join("\n")}
`;
}
