/** What the output tests share: hits of the node's variety, and the check that each arrived once. */
import assert from "node:assert/strict";
import { pace, spawnCli } from "./helpers.ts";
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

/** A real receiver a test stops and starts again (Fluent Bit, rsyslog). */
export interface Restartable {
  /** Resolves once `count` records arrived. */
  received(count: number): Promise<unknown>;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

/**
 * `hitship run --config path` fed `hits` on stdin, 100 lines a write, 10 ms apart; after write 30
 * (once 1,000 hits have arrived) the receiver stops, at write 60 it starts again. The CLI's exit
 * code and stderr once stdin has ended and it has drained.
 */
export async function runThroughRestart(
  path: string,
  hits: string[],
  receiver: Restartable,
): Promise<{ code: number; stderr: string }> {
  const child = spawnCli(["run", "--config", path], { stdin: "piped" });
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  for (let i = 0; i * 100 < hits.length; i++) {
    await writer.write(encoder.encode(hits.slice(i * 100, i * 100 + 100).join("\n") + "\n"));
    if (i === 30) {
      await receiver.received(1000);
      await receiver.stop();
    }
    if (i === 60) await receiver.restart();
    await pace(10);
  }
  await writer.close();
  const result = await child.output();
  return { code: result.code, stderr: new TextDecoder().decode(result.stderr) };
}
