/**
 * What must never happen to hits, tried as a hostile tester would, through the real CLI: a
 * second process on one data_dir, outputs that collide, outputs turned off, full disks.
 */
import assert from "node:assert/strict";
import { runCli, spawnCli, statusIn, until, writeConfig } from "./helpers.ts";
import { makeHit } from "./hits.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function hitsFrom(start: number, n: number): string[] {
  return Array.from({ length: n }, (_, i) => JSON.stringify(makeHit(start + i)));
}

Deno.test("lock: a second run on one data_dir exits 1 at once; status, disable and enable work beside the first", async () => {
  const dir = await Deno.makeTempDir();
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
status_file: ${dir}/status.json
outputs: [{ name: local, type: file, path: ${dir}/out, max_hits: 10 }]
`,
  );
  const first = spawnCli(["run", "--config", config]);
  const writer = first.stdin.getWriter();
  await writer.write(enc.encode(hitsFrom(0, 20).join("\n") + "\n"));
  await until("the first run journals", async () => (await statusIn(dir))?.input?.hits === 20);

  const second = await runCli(["run", "--config", config], { stdin: hitsFrom(20, 5).join("\n") });
  assert.equal(second.code, 1);
  assert.equal(
    second.stderr.trim(),
    `hitship: data_dir ${dir}/data is in use by hitship (pid ${first.pid})`,
  );

  const status = await runCli(["status", "--config", config]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /input: stdin: 20 lines, 20 hits/);
  assert.equal((await runCli(["disable", "local", "--config", config])).code, 0);
  await until(
    "the first run applies disable",
    async () => (await statusIn(dir))?.outputs?.local?.state === "disabled",
  );
  assert.equal((await runCli(["enable", "local", "--config", config])).code, 0);
  await until(
    "the first run applies enable",
    async () => (await statusIn(dir))?.outputs?.local?.state === "active",
  );
  await writer.close();
  const out = await first.output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  assert.equal((await statusIn(dir)).input.hits, 20, "the second run journaled nothing");
});

Deno.test("file: an export never replaces a file another writer left; the batch takes the next free name", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/out`);
  await Deno.writeTextFile(`${dir}/out/fixed.json`, "another writer's\n");
  await Deno.writeTextFile(`${dir}/out/fixed-1.json`, "another writer's too\n");
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
outputs: [{ name: local, type: file, path: ${dir}/out, max_hits: 10, key: fixed.json }]
`,
  );
  const sent = hitsFrom(0, 30);
  const run = await runCli(["run", "--config", config], { stdin: sent.join("\n") + "\n" });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(await Deno.readTextFile(`${dir}/out/fixed.json`), "another writer's\n");
  assert.equal(await Deno.readTextFile(`${dir}/out/fixed-1.json`), "another writer's too\n");
  const ours = ["fixed-2.json", "fixed-3.json", "fixed-4.json"];
  const shipped: unknown[] = [];
  for (const name of ours) {
    shipped.push(...JSON.parse(await Deno.readTextFile(`${dir}/out/${name}`)));
  }
  assert.deepEqual(shipped, sent.map((h) => JSON.parse(h)));
  const names = [...Deno.readDirSync(`${dir}/out`)].map((e) => e.name).sort();
  assert.deepEqual(names, [
    "fixed-1.json",
    "fixed-2.json",
    "fixed-3.json",
    "fixed-4.json",
    "fixed.json",
  ]);
});

/** Mounts a tmpfs of `size` at `dir/name` for the duration of `body` (the tests run as root). */
async function withTmpfs(dir: string, size: string, body: (mount: string) => Promise<void>) {
  const mount = `${dir}/tmpfs`;
  await Deno.mkdir(mount);
  const mounted = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", mount],
    stderr: "piped",
  }).output();
  assert.ok(mounted.success, `cannot mount a tmpfs: ${dec.decode(mounted.stderr)}`);
  try {
    await body(mount);
  } finally {
    await new Deno.Command("umount", { args: ["-l", mount] }).output();
  }
}

/** Fills the file system of `path` to the last byte. */
async function fill(path: string): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(4096);
  try {
    for (;;) await file.write(chunk);
  } catch {
    // full
  } finally {
    file.close();
  }
}

Deno.test("full disk: dead letters that cannot be written are dropped and counted, never a crash; hits wait and resume", async () => {
  const dir = await Deno.makeTempDir();
  await withTmpfs(dir, "2m", async (mount) => {
    const config = await writeConfig(
      dir,
      `data_dir: ${mount}/data
status_file: ${dir}/status.json
outputs: [{ name: local, type: file, path: ${dir}/out, max_hits: 10 }]
`,
    );
    const child = spawnCli(["run", "--config", config]);
    const writer = child.stdin.getWriter();
    const send = (lines: string[]) => writer.write(enc.encode(lines.join("\n") + "\n"));
    await until("started", async () => (await statusIn(dir)) !== undefined);
    await fill(`${mount}/filler`);
    const bad = Array.from({ length: 20 }, (_, i) => `not a hit ${i}`);
    await send(bad);
    await until("rejected and dropped", async () => {
      const s = await statusIn(dir);
      return s?.input?.rejected === 20 && s.input.dead_letters_dropped === 20;
    });
    const sent = hitsFrom(0, 30);
    await send(sent);
    await until("paused on the full disk", async () => (await statusIn(dir))?.input?.paused);
    await Deno.remove(`${mount}/filler`);
    await until("all read", async () => (await statusIn(dir))?.input?.hits === 30);
    await send(["still not a hit"]);
    await writer.close();
    const out = await child.output();
    const stderr = dec.decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.match(
      stderr,
      /Cannot write the dead-letter file: rejected lines are counted but not kept/,
    );
    assert.match(stderr, /The dead-letter file is written again/);
    const { readExports } = await import("./helpers.ts");
    assert.deepEqual(await readExports(`${dir}/out`), sent.map((h) => JSON.parse(h)));
    const letters = await Deno.readTextFile(`${mount}/data/dead-letter.ndjson`);
    assert.deepEqual(letters.trim().split("\n").map((l) => JSON.parse(l).raw), ["still not a hit"]);

    // A restart on a full disk does not crash either.
    await fill(`${mount}/filler`);
    const many = Array.from({ length: 2000 }, (_, i) => `not a hit either ${i}`);
    const again = await runCli(["run", "--config", config], { stdin: many.join("\n") + "\n" });
    assert.equal(again.code, 0, again.stderr);
    const s = await statusIn(dir);
    assert.equal(s.input.rejected, 2000);
    assert.ok(s.input.dead_letters_dropped > 0, `${s.input.dead_letters_dropped} dropped`);
  });
});

Deno.test("full disk: a data_dir filled by the active journal segment rolls it once outputs have passed it; reading resumes", async () => {
  const dir = await Deno.makeTempDir();
  await withTmpfs(dir, "4m", async (mount) => {
    const config = await writeConfig(
      dir,
      `data_dir: ${mount}/data
status_file: ${dir}/status.json
outputs: [{ name: local, type: file, path: ${dir}/out, max_hits: 500 }]
`,
    );
    const sent = hitsFrom(0, 12_000); // about 6.6 MB through a 4 MiB disk, in one segment
    const child = spawnCli(["run", "--config", config]);
    const writer = child.stdin.getWriter();
    const writing = writer.write(enc.encode(sent.join("\n") + "\n")).then(() => writer.close());
    writing.catch(() => {}); // a broken pipe when the test kills it
    const failed = async (error: Error) => {
      child.kill("SIGKILL");
      const out = await child.output();
      throw new Error(`${error.message}\n${dec.decode(out.stderr).slice(-2000)}`);
    };
    await until("all read", async () => (await statusIn(dir))?.input?.hits === 12_000, 600)
      .catch(failed);
    await writing;
    const out = await child.output();
    assert.equal(out.code, 0, dec.decode(out.stderr));
    const { readExports } = await import("./helpers.ts");
    assert.deepEqual(await readExports(`${dir}/out`), sent.map((h) => JSON.parse(h)));
  });
});

Deno.test("dead letters: line numbers of a tailed file count from the start of the file across runs", async () => {
  const dir = await Deno.makeTempDir();
  const input = `${dir}/hits.ndjson`;
  const hits = hitsFrom(0, 20);
  const lines = hits.map((h, i) => (i === 4 || i === 14 ? `broken line ${i + 1}` : h));
  await Deno.writeTextFile(input, lines.slice(0, 10).join("\n") + "\n");
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
input: { type: file, path: ${input}, follow: false }
outputs: [{ name: local, type: file, path: ${dir}/out }]
`,
  );
  assert.equal((await runCli(["run", "--config", config])).code, 0);
  await Deno.writeTextFile(input, lines.slice(10).join("\n") + "\n", { append: true });
  assert.equal((await runCli(["run", "--config", config])).code, 0);
  const letters = (await Deno.readTextFile(`${dir}/data/dead-letter.ndjson`)).trim().split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(letters.map((l) => [l.line, l.raw]), [
    [5, "broken line 5"],
    [15, "broken line 15"],
  ]);
});

Deno.test("status: a status file that cannot be written is warned about once and told by hitship status; shipping goes on", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/not-a-dir`, "");
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
status_file: ${dir}/not-a-dir/status.json
outputs: [{ name: local, type: file, path: ${dir}/out, max_hits: 10 }]
`,
  );
  const child = spawnCli(["run", "--config", config]);
  const writer = child.stdin.getWriter();
  const sent = hitsFrom(0, 30);
  await writer.write(enc.encode(sent.join("\n") + "\n"));
  const { readExports } = await import("./helpers.ts");
  await until("shipped", async () => (await readExports(`${dir}/out`)).length === 30);
  const status = await runCli(["status", "--config", config]);
  assert.equal(status.code, 1);
  assert.match(
    status.stderr,
    new RegExp(
      `^hitship: No status file: hitship \\(pid ${child.pid}\\) runs on data_dir "${dir}/data" but cannot write its status file "${dir}/not-a-dir/status.json": Not a directory`,
    ),
  );
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0);
  const warnings = dec.decode(out.stderr).split("\n").filter((l) =>
    l.includes("Cannot write the status file")
  );
  assert.equal(warnings.length, 1, "warned once");
  // Not running any more: the plain answer again.
  const after = await runCli(["status", "--config", config]);
  assert.match(after.stderr, /Cannot read the status file "[^"]+": Not a directory/);
});

Deno.test("journal: opening a 35 MB active segment takes about the memory of a fresh start", async () => {
  /** Starts hitship on `dataDir`, and reads its peak RSS (VmHWM) once it is up. */
  const peakAtStart = async (dataDir: string) => {
    const config = await writeConfig(
      dataDir,
      `data_dir: ${dataDir}/data
outputs: [{ name: off, type: file, path: ${dataDir}/out, enabled: false }]
`,
    );
    const child = spawnCli(["run", "--config", config]);
    await until("started", async () => (await statusIn(`${dataDir}/data`))?.pid === child.pid);
    const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
    child.stdin.close();
    assert.equal((await child.output()).code, 0);
    return Number(/VmHWM:\s+(\d+)/.exec(status)![1]) / 1024;
  };
  const full = await Deno.makeTempDir();
  const fill = await writeConfig(
    full,
    `data_dir: ${full}/data
outputs: [{ name: off, type: file, path: ${full}/out, enabled: false }]
`,
  );
  const filled = await runCli(["run", "--config", fill], {
    stdin: hitsFrom(0, 64_000).join("\n") + "\n",
  });
  assert.equal(filled.code, 0, filled.stderr);
  const segments = [...Deno.readDirSync(`${full}/data/journal`)].filter((e) =>
    e.name.endsWith(".ndjson")
  );
  assert.equal(segments.length, 1);
  const size = Deno.statSync(`${full}/data/journal/${segments[0]!.name}`).size;
  assert.ok(size > 35_000_000, `${size} bytes`);
  const fresh = await peakAtStart(await Deno.makeTempDir());
  const reopened = await peakAtStart(full);
  console.log(
    `peak RSS at start: ${fresh.toFixed(0)} MiB fresh, ${reopened.toFixed(0)} MiB on ${
      (size / 1e6).toFixed(0)
    } MB`,
  );
  assert.ok(reopened < fresh + 16, `${reopened.toFixed(0)} MiB vs ${fresh.toFixed(0)} MiB fresh`);
});
