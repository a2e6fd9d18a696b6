/**
 * End to end: the real CLI in its own process, real input on stdin, real files out.
 */
import assert from "node:assert/strict";
import { exportOrder, readExports, runCli, writeConfig } from "./helpers.ts";
import { makeHit, mixedInput } from "./hits.ts";

Deno.test("run: 3,000 hits with 60 malformed lines land in order; 60 rejected with reasons", async () => {
  const dir = await Deno.makeTempDir();
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
status_file: ${dir}/status.json
outputs:
  - name: local
    type: file
    path: ${dir}/out
    max_hits: 700
`,
  );
  const { text, hits } = mixedInput(3000, 60);
  const run = await runCli(["run", "--config", config], { stdin: text });
  assert.equal(run.code, 0, run.stderr);

  const files = exportOrder([...Deno.readDirSync(`${dir}/out`)].map((e) => e.name));
  assert.ok(files.length >= 5, `files: ${files}`);
  for (const f of files) assert.match(f, /^hitlogs-\d+(-\d+)?\.json$/);
  const shipped: unknown[] = [];
  const raw: string[] = [];
  for (const f of files) {
    const body = await Deno.readTextFile(`${dir}/out/${f}`);
    const array = JSON.parse(body);
    assert.ok(Array.isArray(array));
    assert.ok(array.length <= 700);
    shipped.push(...array);
    raw.push(body);
  }
  assert.equal(shipped.length, 3000);
  assert.deepEqual(shipped, hits.map((h) => JSON.parse(h)), "every valid hit, in order");
  // Shipped exactly as written: the raw line of every hit appears byte for byte.
  const all = raw.join("");
  for (const hit of [hits[0]!, hits[1234]!, hits[2999]!]) assert.ok(all.includes(hit));

  const status = JSON.parse(await Deno.readTextFile(`${dir}/status.json`));
  assert.equal(status.input.rejected, 60);
  assert.equal(status.input.hits, 3000);
  assert.equal(status.input.lines, 3060);
  assert.equal(status.outputs.local.delivered_hits, 3000);
  assert.equal(status.outputs.local.pending_hits, 0);

  const dead = (await Deno.readTextFile(`${dir}/data/dead-letter.ndjson`)).trim().split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(dead.length, 60);
  const inputLines = text.split("\n");
  for (const record of dead) {
    assert.equal(record.raw, inputLines[record.line - 1], "dead letter holds the line as read");
    assert.ok(record.reason.length > 0);
  }
  const reasons = dead.map((d) => d.reason).join("\n");
  assert.match(reasons, /not valid JSON/);
  assert.match(reasons, /expected a JSON object, got an array/);
  assert.match(reasons, /status_code: expected an integer, got "abc"/);
  assert.match(reasons, /attack_type: is required/);
  assert.match(reasons, /time: expected Unix seconds/);
  assert.match(run.stderr, /Rejected line \d+: status_code: expected an integer, got \\"abc\\"/);
});

Deno.test("run: stdin redirected from a file is read to its end, in order, past many chunks", async () => {
  const dir = await Deno.makeTempDir();
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
outputs: [{ name: local, type: file, path: ${dir}/out, max_hits: 2000 }]
`,
  );
  const { text, hits } = mixedInput(6000, 30); // about 3.4 MB: several reads of 1 MiB
  await Deno.writeTextFile(`${dir}/hits.ndjson`, text);
  const run = await runCli(["run", "--config", config], { stdinFile: `${dir}/hits.ndjson` });
  assert.equal(run.code, 0, run.stderr);
  const files = exportOrder([...Deno.readDirSync(`${dir}/out`)].map((e) => e.name));
  const shipped = [];
  for (const f of files) shipped.push(...JSON.parse(await Deno.readTextFile(`${dir}/out/${f}`)));
  assert.equal(shipped.length, 6000);
  assert.deepEqual(shipped, hits.map((h) => JSON.parse(h)), "every valid hit, in order");
  assert.match(run.stderr, /"hitship stopped","lines":6030,"hits":6000,"rejected":30/);
});

Deno.test("run: with no --config, stdin goes to ./hitlogs and state to ./.hitship", async () => {
  const dir = await Deno.makeTempDir();
  const { text, hits } = mixedInput(20, 0);
  const run = await runCli(["run"], { stdin: text, cwd: dir });
  assert.equal(run.code, 0, run.stderr);
  const files = [...Deno.readDirSync(`${dir}/hitlogs`)].map((e) => e.name);
  assert.equal(files.length, 1);
  const shipped = JSON.parse(await Deno.readTextFile(`${dir}/hitlogs/${files[0]}`));
  assert.deepEqual(shipped, hits.map((h) => JSON.parse(h)));
  const status = JSON.parse(await Deno.readTextFile(`${dir}/.hitship/status.json`));
  assert.equal(status.outputs.local.delivered_hits, 20);
});

Deno.test("run: CRLF, blank lines, a BOM, invalid UTF-8 and an over-long line never stop the stream", async () => {
  const dir = await Deno.makeTempDir();
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
input: { type: stdin, max_line_bytes: 2KiB }
outputs: [{ name: out, type: file, path: ${dir}/out, format: jsonl }]
`,
  );
  const { hits } = mixedInput(4, 0);
  const enc = new TextEncoder();
  const parts = [
    enc.encode("\uFEFF" + hits[0] + "\r\n\r\n   \n"),
    new Uint8Array([0x7b, 0xff, 0xfe, 0x7d, 0x0a]), // invalid UTF-8
    enc.encode(`{"x":"${"y".repeat(5000)}"}\n`),
    enc.encode(hits[1] + "\n" + hits[2] + "\r\n" + hits[3]), // last line without newline
  ];
  const input = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) input.set(p, (at += p.length) - p.length);
  const run = await runCli(["run", "--config", config], { stdin: input });
  assert.equal(run.code, 0, run.stderr);
  const [file] = [...Deno.readDirSync(`${dir}/out`)].map((e) => e.name);
  assert.match(file!, /^hitlogs-\d+\.jsonl$/);
  const body = await Deno.readTextFile(`${dir}/out/${file}`);
  assert.equal(body, hits.join("\n") + "\n");
  const dead = (await Deno.readTextFile(`${dir}/data/dead-letter.ndjson`)).trim().split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(dead.map((d) => [d.line, d.reason]), [
    [4, "not valid UTF-8"],
    [5, "line is 5008 bytes, longer than max_line_bytes (2048)"],
  ]);
});

Deno.test("validate: a misspelled key exits 1 naming the key, file, line and column", async () => {
  const dir = await Deno.makeTempDir();
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
outputs:
  - name: local
    type: file
    path: ${dir}/out
    intervall: 10m
`,
  );
  const run = await runCli(["validate", "--config", config]);
  assert.equal(run.code, 1);
  assert.equal(
    run.stderr.trim(),
    `${config}:6:5: outputs[0].intervall: unknown key "intervall", did you mean "interval"?`,
  );
});

Deno.test("validate: a good config exits 0 and says what it found", async () => {
  const dir = await Deno.makeTempDir();
  const config = await writeConfig(dir, `outputs: [{ name: a, type: file, path: ${dir}/out }]\n`);
  const run = await runCli(["validate", "--config", config]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /valid; input stdin; outputs: a \(file\)/);
});

Deno.test("usage errors exit 2 with a one-line hint; --version and --help exit 0", async () => {
  const bad = await runCli(["run", "--bogus"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.trim().split("\n").length, 1);
  assert.match(bad.stderr, /--bogus.*see "hitship run --help"/);
  const unknown = await runCli(["launch"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "launch"/);
  const version = await runCli(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^hitship \d+\.\d+\.\d+/);
  const help = await runCli(["validate", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: hitship validate --config FILE/);
  const missing = await runCli(["validate"]);
  assert.equal(missing.code, 2);
});

Deno.test("disable and enable: a running sidecar turns an output off and on within a second", async () => {
  const { spawnCli, statusIn, until, readExports } = await import("./helpers.ts");
  const dir = await Deno.makeTempDir();
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
status_file: ${dir}/status.json
outputs:
  - { name: local, type: file, path: ${dir}/out, max_hits: 10, interval: 50ms }
`,
  );
  const { hits } = mixedInput(30, 0);
  const child = spawnCli(["run", "--config", config]);
  const writer = child.stdin.getWriter();
  const send = (lines: string[]) => writer.write(new TextEncoder().encode(lines.join("\n") + "\n"));
  const state = async () => (await statusIn(dir))?.outputs?.local?.state;
  const delivered = async () => (await statusIn(dir))?.outputs?.local?.delivered_hits ?? 0;
  await send(hits.slice(0, 10));
  await until("10 delivered", async () => (await delivered()) === 10);

  const off = await runCli(["disable", "local", "--config", config]);
  assert.equal(off.code, 0, off.stderr);
  assert.equal(off.stdout, 'Output "local" disabled (was enabled)\n');
  await until("disabled", async () => (await state()) === "disabled");
  await send(hits.slice(10, 20)); // kept in the journal while the output is off
  await until("read", async () => (await statusIn(dir))?.input?.hits === 20);
  const on = await runCli(["enable", "local", "--config", config]);
  assert.equal(on.code, 0, on.stderr);
  await until("active again", async () => (await state()) === "active");
  await send(hits.slice(20));
  await writer.close();
  assert.equal((await child.output()).code, 0);
  const shipped = await readExports(`${dir}/out`);
  assert.deepEqual(shipped, hits.map((h) => JSON.parse(h)), "all of them, in order");
  const events = await Deno.readTextFile(`${dir}/out/events.ndjson`).catch(() => "");
  assert.equal(events, "", "the file output does not take system events unless asked");
});

Deno.test("run from a regular file shows a progress line on a terminal, and none when stderr is not one", async () => {
  const { MOD, RUN_PERMISSIONS } = await import("./helpers.ts");
  const { makeHit } = await import("./hits.ts");
  const dir = await Deno.makeTempDir();
  const input = `${dir}/backfill.ndjson`;
  await Deno.writeTextFile(
    input,
    Array.from({ length: 3000 }, (_, i) => JSON.stringify(makeHit(i))).join("\n") + "\n",
  );
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data\noutputs: [{ name: local, type: file, path: ${dir}/out }]\n`,
  );
  const command = [Deno.execPath(), "run", ...RUN_PERMISSIONS, MOD, "run", "--config", config];
  // A terminal: util-linux's script(1) runs the command on a pseudo-terminal.
  const quoted = (args: string[]) => args.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const tty = await new Deno.Command("script", {
    args: ["-qfec", `${quoted(command)} --input ${quoted([input])}`, "/dev/null"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const transcript = new TextDecoder().decode(tty.stdout);
  assert.equal(tty.code, 0, transcript);
  const size = ((await Deno.stat(input)).size / 1024 / 1024).toFixed(1);
  assert.match(
    transcript,
    new RegExp(`\\r\\x1b\\[K${size} MiB of ${size} MiB \\(100%\\), \\d+ hits/s, in [\\d.]+ s`),
  );
  // Not a terminal (a pipe, as under systemd or a CI log): no progress line at all.
  const piped = await runCli(["run", "--config", config, "--input", input]);
  assert.equal(piped.code, 0, piped.stderr);
  assert.doesNotMatch(piped.stderr, /MiB of|hits\/s/);
  assert.ok(!piped.stderr.includes("\x1b"), "no terminal control codes");
});

Deno.test("options without a command are run's, as an image's arguments after its entrypoint", async () => {
  const dir = await Deno.makeTempDir();
  const path = await writeConfig(
    dir,
    `data_dir: ${dir}/data\noutputs: [{ name: a, type: file, path: ${dir}/out }]\n`,
  );
  const run = await runCli(["--config", path], { stdin: JSON.stringify(makeHit(1)) + "\n" });
  assert.equal(run.code, 0, run.stderr);
  assert.equal((await readExports(`${dir}/out`)).length, 1);
  const bogus = await runCli(["--bogus"]);
  assert.equal(bogus.code, 2);
  assert.match(bogus.stderr, /--bogus.*see "hitship run --help"/);
  await Deno.remove(dir, { recursive: true });
});
