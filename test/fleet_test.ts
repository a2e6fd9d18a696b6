/**
 * Many sidecars, one bucket: uploads are conditional, so no export ever replaces another's, and a
 * batch replayed after a crash recognises its own earlier upload.
 */
import assert from "node:assert/strict";
import { runCli, spawnCli, statusIn, until, writeConfig } from "./helpers.ts";
import { makeHit } from "./hits.ts";
import { aws, awsGet, awsList, newBucket, s3Env } from "./s3.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function hitsFrom(start: number, n: number): string[] {
  return Array.from({ length: n }, (_, i) => JSON.stringify(makeHit(start + i)));
}

function s3Output(bucket: string, extra = ""): string {
  const { endpoint, accessKey, secretKey } = s3Env();
  return `  - { name: archive, type: minio-hitlogs, endpoint: "${endpoint}", bucket: ${bucket}, access_key: "${accessKey}", secret_key: "${secretKey}"${extra} }\n`;
}

Deno.test("fleet: 8 sidecars started together ship 5,000 hits each into one bucket with the default key: 40,000 hits, none overwritten", async () => {
  const bucket = await newBucket("fleet");
  const processes = [];
  const sent: string[][] = [];
  const dirs: string[] = [];
  for (let p = 0; p < 8; p++) {
    const dir = await Deno.makeTempDir();
    const config = await writeConfig(
      dir,
      `data_dir: ${dir}/data\nstatus_file: ${dir}/status.json\noutputs:\n${s3Output(bucket)}`,
    );
    dirs.push(dir);
    sent.push(hitsFrom(p * 5000, 5000));
    processes.push(spawnCli(["run", "--config", config]));
  }
  // Every sidecar has its hits journaled; then all inputs end at once, and all eight export in
  // the same moment under the same default name.
  const writers = processes.map((child) => child.stdin.getWriter());
  await Promise.all(writers.map((w, p) => w.write(enc.encode(sent[p]!.join("\n") + "\n"))));
  for (const dir of dirs) {
    await until("journaled", async () => (await statusIn(dir))?.input?.hits === 5000);
  }
  await Promise.all(writers.map((w) => w.close()));
  const outs = await Promise.all(processes.map((child) => child.output()));
  for (const out of outs) assert.equal(out.code, 0, dec.decode(out.stderr));

  const keys = await awsList(bucket);
  const inBucket = new Map<string, number>();
  for (const key of keys) {
    for (const hit of JSON.parse(dec.decode(await awsGet(bucket, key))) as unknown[]) {
      const id = JSON.stringify(hit);
      inBucket.set(id, (inBucket.get(id) ?? 0) + 1);
    }
  }
  const all = sent.flat().map((h) => JSON.stringify(JSON.parse(h)));
  assert.equal(all.filter((h) => !inBucket.has(h)).length, 0, "lost");
  assert.equal([...inBucket.values()].filter((n) => n > 1).length, 0, "duplicated");
  assert.equal(inBucket.size, 40_000);
  assert.equal(keys.length, 8, keys.join(" "));
  assert.ok(
    keys.some((k) => /^hitlogs-\d+-\d+\.json$/.test(k)),
    `the sidecars met on one name and took suffixes: ${keys.join(" ")}`,
  );
  for (const dir of dirs) assert.equal((await statusIn(dir)).outputs.archive.delivered_hits, 5000);
});

Deno.test("minio-hitlogs: an object another writer put under the batch's name stays; the batch takes the next free name", async () => {
  const bucket = await newBucket("taken");
  const dir = await Deno.makeTempDir();
  const other = `${dir}/other.json`;
  await Deno.writeTextFile(other, '["another writer"]\n');
  await aws(["s3", "cp", other, `s3://${bucket}/fixed.json`]);
  await aws(["s3", "cp", other, `s3://${bucket}/fixed-1.json`]);
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data\noutputs:\n${s3Output(bucket, ", max_hits: 10, key: fixed.json")}`,
  );
  const sent = hitsFrom(0, 30);
  const run = await runCli(["run", "--config", config], { stdin: sent.join("\n") + "\n" });
  assert.equal(run.code, 0, run.stderr);
  const warnings = run.stderr.trim().split("\n").map((l) => JSON.parse(l).msg as string);
  assert.ok(
    warnings.includes(
      `Object "fixed.json" in bucket "${bucket}" was written by another writer: uploading as "fixed-1.json"`,
    ),
    run.stderr,
  );
  for (const key of ["fixed.json", "fixed-1.json"]) {
    assert.equal(dec.decode(await awsGet(bucket, key)), '["another writer"]\n');
  }
  const shipped: unknown[] = [];
  for (const key of ["fixed-2.json", "fixed-3.json", "fixed-4.json"]) {
    shipped.push(...JSON.parse(dec.decode(await awsGet(bucket, key))));
  }
  assert.deepEqual(shipped, sent.map((h) => JSON.parse(h)));
  assert.equal((await awsList(bucket)).length, 5);
});

Deno.test("minio-hitlogs: a batch replayed after its upload (a crash before the state was saved) counts its own object as delivered", async () => {
  const bucket = await newBucket("replay");
  const dir = await Deno.makeTempDir();
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data\noutputs:\n${s3Output(bucket)}`,
  );
  const sent = hitsFrom(0, 50);
  const first = await runCli(["run", "--config", config], { stdin: sent.join("\n") + "\n" });
  assert.equal(first.code, 0, first.stderr);
  const [key] = await awsList(bucket);
  // The state as a crash right after the upload leaves it: the batch still in flight.
  const statePath = `${dir}/data/outputs/archive.json`;
  const state = JSON.parse(await Deno.readTextFile(statePath));
  const end = state.cursor;
  state.intent = {
    seq: 1,
    key,
    base_key: key,
    suffix: 0,
    from: { offset: 0, seq: 0 },
    to: end,
    count: 50,
    raw_bytes: end.offset - 50,
    created_at: Date.now(),
  };
  state.cursor = { offset: 0, seq: 0 };
  state.counters.delivered_hits = 0;
  await Deno.writeTextFile(statePath, JSON.stringify(state));
  const replay = await runCli(["run", "--config", config], { stdin: "" });
  assert.equal(replay.code, 0, replay.stderr);
  assert.deepEqual(await awsList(bucket), [key], "no second object");
  const status = await statusIn(`${dir}/data`);
  assert.equal(status.outputs.archive.delivered_hits, 50);
  assert.equal(status.outputs.archive.failed_requests, 0);
});
