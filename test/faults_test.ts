/**
 * Fault injection with real processes: kill -9 during uploads, rotation and copytruncate during
 * continuous writes, a torn journal tail, a small tmpfs filling up, signals, backpressure, and a
 * long follow with flat memory. Each test reads the destination back and counts lost and
 * duplicated hits.
 */
import assert from "node:assert/strict";
import {
  exportOrder,
  pace,
  readExports,
  spawnCli,
  statusIn,
  until,
  writeConfig,
} from "./helpers.ts";
import { makeHit } from "./hits.ts";
import { startReceiver } from "./receiver.ts";
import { awsList, minioGet, newBucket, s3Env } from "./s3.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Counts lost and duplicated hits of `shipped` against `sent`; checks order too. */
function account(sent: string[], shipped: unknown[]) {
  const counts = new Map<string, number>();
  for (const hit of shipped) {
    const key = JSON.stringify(hit);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const lost = sent.filter((h) => !counts.has(JSON.stringify(JSON.parse(h)))).length;
  const duplicated = [...counts.values()].reduce((n, c) => n + (c - 1), 0);
  return { lost, duplicated };
}

function hitsFrom(start: number, n: number): string[] {
  return Array.from({ length: n }, (_, i) => JSON.stringify(makeHit(start + i)));
}

async function append(path: string, lines: string[]): Promise<void> {
  await Deno.writeTextFile(path, lines.map((l) => l + "\n").join(""), {
    append: true,
    create: true,
  });
}

Deno.test("faults: kill -9 during uploads to radosgw, restart: every hit in the bucket once", async () => {
  const dir = await Deno.makeTempDir();
  const bucket = await newBucket("kill");
  const { endpoint, accessKey, secretKey } = s3Env();
  const input = `${dir}/hits.ndjson`;
  const sent = hitsFrom(0, 40000);
  await append(input, sent);
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
status_file: ${dir}/status.json
input: { type: file, path: ${input}, follow: false }
outputs:
  - { name: archive, type: minio-hitlogs, endpoint: "${endpoint}", bucket: ${bucket}, access_key: "${accessKey}", secret_key: "${secretKey}", max_hits: 400 }
`,
  );
  // Kill it three times while it uploads, then let it finish.
  let killed = 0;
  for (let kill = 0; kill < 3; kill++) {
    const child = spawnCli(["run", "--config", config]);
    child.stdin.close();
    // The output's state file is saved after every batch: it shows progress at once.
    const delivered = async () => {
      try {
        const state = await Deno.readTextFile(`${dir}/data/outputs/archive.json`);
        return JSON.parse(state).cursor.seq as number;
      } catch {
        return 0;
      }
    };
    const before = await delivered();
    await until("some uploads", async () => (await delivered()) > before + 4000, 5000, 5);
    try {
      child.kill("SIGKILL");
      killed++;
    } catch {
      // It finished first.
    }
    await child.output();
  }
  assert.ok(killed >= 2, `killed mid-run ${killed} times`);
  const last = spawnCli(["run", "--config", config]);
  last.stdin.close();
  const out = await last.output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  const shipped: unknown[] = [];
  for (const key of exportOrder(await awsList(bucket))) {
    shipped.push(...JSON.parse(dec.decode(await minioGet(bucket, key))));
  }
  assert.deepEqual(account(sent, shipped), { lost: 0, duplicated: 0 });
  assert.deepEqual(shipped, sent.map((h) => JSON.parse(h)), "in order");
});

Deno.test("faults: rename rotation and copytruncate during continuous writes: nothing lost, truncation counted", async () => {
  const dir = await Deno.makeTempDir();
  const input = `${dir}/hits.ndjson`;
  await Deno.writeTextFile(input, "");
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
status_file: ${dir}/status.json
input: { type: file, path: ${input}, poll_interval: 50ms }
outputs: [{ name: local, type: file, path: ${dir}/out, max_hits: 100, interval: 200ms }]
`,
  );
  const child = spawnCli(["run", "--config", config]);
  child.stdin.close();
  const sent: string[] = [];
  const write = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const batch = hitsFrom(sent.length, 25);
      sent.push(...batch);
      await append(input, batch);
      await pace(5);
    }
  };
  const read = async () => (await statusIn(dir))?.input?.hits ?? 0;
  await write(20);
  // Rename rotation while writing: the old file is finished, then the new one opened. (Wait
  // until hitship has the first file open; on a busy machine it may still be starting.)
  await until("the first lines read", async () => (await read()) > 0);
  await Deno.rename(input, `${input}.1`);
  const late = hitsFrom(sent.length, 30); // written to the old file after the rename
  sent.push(...late);
  await append(`${input}.1`, late);
  await write(20);
  const failed = async (e: Error) => {
    child.kill("SIGKILL");
    const out = await child.output();
    throw new Error(
      `${e.message}: read ${await read()} of ${sent.length}\n${
        dec.decode(out.stderr).slice(-3000)
      }`,
    );
  };
  await until(`all read after rotation`, async () => (await read()) === sent.length).catch(failed);
  // copytruncate: copy, then truncate in place; the writer pauses while logrotate does it.
  await Deno.copyFile(input, `${input}.2`);
  await Deno.truncate(input, 0);
  await write(20);
  await until("all read after copytruncate", async () => (await read()) === sent.length).catch(
    failed,
  );
  child.kill("SIGTERM");
  const out = await child.output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  const shipped = await readExports(`${dir}/out`);
  assert.deepEqual(account(sent, shipped), { lost: 0, duplicated: 0 });
  const s = await statusIn(dir);
  assert.equal(s.input.truncations, 1);
  assert.equal(s.input.hits, sent.length);
  assert.match(dec.decode(out.stderr), /The input file was rotated/);
  assert.match(dec.decode(out.stderr), /The input file was truncated/);
});

Deno.test("faults: a torn journal tail after kill -9 is cut; the lines are read again, none twice", async () => {
  const dir = await Deno.makeTempDir();
  const input = `${dir}/hits.ndjson`;
  const sent = hitsFrom(0, 2000);
  await append(input, sent.slice(0, 1000));
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
status_file: ${dir}/status.json
input: { type: file, path: ${input}, follow: false }
outputs: [{ name: local, type: file, path: ${dir}/out, max_hits: 100 }]
`,
  );
  const first = spawnCli(["run", "--config", config]);
  first.stdin.close();
  assert.equal((await first.output()).code, 0);
  // A crash in the middle of an append leaves half a record behind the last commit.
  const segment = [...Deno.readDirSync(`${dir}/data/journal`)].find((e) =>
    e.name.endsWith(".ndjson")
  )!;
  await Deno.writeTextFile(`${dir}/data/journal/${segment.name}`, sent[1000]!.slice(0, 90), {
    append: true,
  });
  await append(input, sent.slice(1000));
  const second = spawnCli(["run", "--config", config]);
  second.stdin.close();
  const out = await second.output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  assert.match(dec.decode(out.stderr), /Cut a torn record off the end of the journal/);
  const shipped = await readExports(`${dir}/out`);
  assert.deepEqual(account(sent, shipped), { lost: 0, duplicated: 0 });
});

Deno.test("faults: a small tmpfs filling up pauses reading; nothing is lost or corrupted", async () => {
  const dir = await Deno.makeTempDir();
  const mount = `${dir}/tmpfs`;
  await Deno.mkdir(mount);
  const mounted = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mount],
    stderr: "piped",
  }).output();
  assert.ok(
    mounted.success,
    `cannot mount a tmpfs (the test runs as root): ${dec.decode(mounted.stderr)}`,
  );
  try {
    await using receiver = await startReceiver();
    let open = false;
    receiver.behave(() => (open ? "accept" : "error"));
    const config = await writeConfig(
      dir,
      `data_dir: ${mount}/data
status_file: ${dir}/status.json
journal_segment_bytes: 64KiB
outputs:
  - name: soar
    type: insightconnect
    api_url: ${receiver.url}
    api_key: ${receiver.key}
    max_hits_per_request: 200
    retry: { cycles: [[100ms]], then_every: 100ms }
    auto_disable: { min_requests: 100000 }
`,
    );
    const sent = hitsFrom(0, 5000); // about 2.6 MB, more than the tmpfs holds
    const child = spawnCli(["run", "--config", config]);
    const writer = child.stdin.getWriter();
    const writing = writer.write(enc.encode(sent.join("\n") + "\n")).then(() => writer.close());
    await until(
      "reading pauses on the full disk",
      async () => (await statusIn(dir))?.input?.paused === true,
    );
    open = true;
    await writing;
    const out = await child.output();
    assert.equal(out.code, 0, dec.decode(out.stderr));
    assert.match(dec.decode(out.stderr), /the disk is full; reading pauses/);
    const shipped = receiver.delivered();
    assert.deepEqual(account(sent, shipped), { lost: 0, duplicated: 0 });
    assert.deepEqual(shipped, sent.map((h) => JSON.parse(h)));
  } finally {
    await new Deno.Command("umount", { args: [mount] }).output();
  }
});

Deno.test("faults: max_journal_bytes pauses stdin until outputs catch up; nothing dropped", async () => {
  const dir = await Deno.makeTempDir();
  await using receiver = await startReceiver();
  let open = false;
  receiver.behave(() => (open ? "accept" : "error"));
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
status_file: ${dir}/status.json
max_journal_bytes: 128KiB
journal_segment_bytes: 32KiB
outputs:
  - name: soar
    type: insightconnect
    api_url: ${receiver.url}
    api_key: ${receiver.key}
    max_hits_per_request: 100
    retry: { cycles: [[100ms]], then_every: 100ms }
    auto_disable: { min_requests: 100000 }
`,
  );
  const sent = hitsFrom(0, 3000);
  const child = spawnCli(["run", "--config", config]);
  const writer = child.stdin.getWriter();
  const writing = writer.write(enc.encode(sent.join("\n") + "\n")).then(() => writer.close());
  await until("the input pauses", async () => (await statusIn(dir))?.input?.paused === true);
  const paused = await statusIn(dir);
  assert.ok(paused.input.hits < 3000, "stdin is not read while the journal is full");
  assert.ok(paused.journal.bytes >= 128 * 1024);
  open = true;
  await writing;
  const out = await child.output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  const shipped = receiver.delivered();
  assert.deepEqual(account(sent, shipped), { lost: 0, duplicated: 0 });
  assert.equal((await statusIn(dir)).input.paused, false);
});

Deno.test("faults: SIGTERM drains and exits 0 with state saved; a second signal exits at once", async () => {
  const dir = await Deno.makeTempDir();
  const input = `${dir}/hits.ndjson`;
  const sent = hitsFrom(0, 500);
  await append(input, sent);
  await using receiver = await startReceiver();
  receiver.behave(() => "error");
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
status_file: ${dir}/status.json
shutdown_timeout: 20s
input: { type: file, path: ${input} }
outputs:
  - { name: local, type: file, path: ${dir}/out, max_hits: 100, interval: 1h }
  - { name: soar, type: insightconnect, api_url: "${receiver.url}", api_key: "${receiver.key}", auto_disable: { min_requests: 1000 } }
`,
  );
  const child = spawnCli(["run", "--config", config]);
  child.stdin.close();
  await until("all read", async () => (await statusIn(dir))?.input?.hits === 500);
  child.kill("SIGTERM");
  await until(
    "local flushed its partial window",
    async () => (await readExports(`${dir}/out`)).length === 500,
  );
  // soar keeps retrying within the grace period: a second signal ends it at once.
  const t0 = Date.now();
  child.kill("SIGINT");
  const out = await child.output();
  assert.ok(Date.now() - t0 < 5000, "the second signal does not wait for the grace period");
  assert.equal(out.code, 1, "soar still holds its hits");
  const stderr = dec.decode(out.stderr);
  assert.match(stderr, /Received SIGTERM: draining/);
  assert.match(stderr, /Received SIGINT again: stopping now/);
  const state = JSON.parse(await Deno.readTextFile(`${dir}/data/outputs/soar.json`));
  assert.ok(state.intent, "the batch in flight is saved for the next run");
  assert.deepEqual(account(sent, await readExports(`${dir}/out`)), { lost: 0, duplicated: 0 });
});

Deno.test("faults: a long follow with appends over time keeps memory flat", async () => {
  const dir = await Deno.makeTempDir();
  const input = `${dir}/hits.ndjson`;
  await Deno.writeTextFile(input, "");
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
status_file: ${dir}/status.json
journal_segment_bytes: 1MiB
input: { type: file, path: ${input}, poll_interval: 50ms }
outputs: [{ name: local, type: file, path: ${dir}/out, max_hits: 2000, interval: 100ms }]
`,
  );
  const child = spawnCli(["run", "--config", config]);
  child.stdin.close();
  const rss = async () => {
    const text = await Deno.readTextFile(`/proc/${child.pid}/status`);
    return Number(/VmRSS:\s+(\d+)/.exec(text)![1]) / 1024;
  };
  const samples: number[] = [];
  let written = 0;
  for (let round = 0; round < 16; round++) {
    await append(input, hitsFrom(written, 4000));
    written += 4000;
    await until(`round ${round} read`, async () => (await statusIn(dir))?.input?.hits === written);
    samples.push(await rss());
  }
  child.kill("SIGTERM");
  assert.equal((await child.output()).code, 0);
  const early = Math.max(...samples.slice(3, 8));
  const late = Math.max(...samples.slice(11));
  assert.ok(
    late < early * 1.25 + 10,
    `RSS grew from ${early.toFixed(0)} MiB to ${late.toFixed(0)} MiB over ${written} hits`,
  );
  const s = await statusIn(dir);
  assert.equal(s.outputs.local.delivered_hits, written);
  assert.ok(s.journal.segments <= 3, `old segments are deleted: ${s.journal.segments}`);
});
