/**
 * Hot reload: SIGHUP re-reads the config while hits stream in.
 */
import assert from "node:assert/strict";
import { pace, readExports, spawnCli, statusIn, until, writeConfig } from "./helpers.ts";
import { makeHit } from "./hits.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("reload: SIGHUP adds and removes an output under load; nothing is lost; a bad config keeps the old", async () => {
  const dir = await Deno.makeTempDir();
  const head = `data_dir: ${dir}/data\nstatus_file: ${dir}/status.json\noutputs:\n`;
  const a = `  - { name: a, type: file, path: ${dir}/a, max_hits: 40, interval: 50ms }\n`;
  const b = `  - { name: b, type: file, path: ${dir}/b, max_hits: 40, interval: 50ms }\n`;
  const config = await writeConfig(dir, head + a);
  const child = spawnCli(["run", "--config", config]);
  const writer = child.stdin.getWriter();
  const sent: string[] = [];
  let writing = true;
  const load = (async () => {
    while (writing) {
      const batch = Array.from({ length: 20 }, (_, i) => JSON.stringify(makeHit(sent.length + i)));
      sent.push(...batch);
      await writer.write(enc.encode(batch.join("\n") + "\n"));
      await pace(10);
    }
  })();
  const delivered = async (name: string) =>
    (await statusIn(dir))?.outputs?.[name]?.delivered_hits ?? 0;

  await until("a delivers", async () => (await delivered("a")) > 200);
  await writeConfig(dir, head + a + b);
  child.kill("SIGHUP");
  await until("b is added and delivers", async () => (await delivered("b")) > 200);
  await writeConfig(dir, "outputs: [ { name: b, type: file\n"); // broken YAML
  child.kill("SIGHUP");
  await until(
    "the error is in the status file",
    async () => /hitship\.yaml:\d+:\d+: /.test((await statusIn(dir))?.last_config_error ?? ""),
  );
  assert.ok((await statusIn(dir)).outputs.a, "the old config keeps running");
  await writeConfig(dir, head + b);
  child.kill("SIGHUP");
  await until("a is removed", async () => (await statusIn(dir))?.outputs?.a === undefined);
  const b0 = await delivered("b");
  await until("b goes on", async () => (await delivered("b")) > b0 + 200);
  writing = false;
  await load;
  await writer.close();
  const out = await child.output();
  const stderr = dec.decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.match(stderr, /"msg":"Config reloaded","added":\["b"\]/);
  assert.match(stderr, /Reload failed; the running config stays/);
  assert.match(stderr, /"msg":"Config reloaded","added":\[\],"removed":\["a"\]/);

  const gotA = (await readExports(`${dir}/a`)).map((h) => JSON.stringify(h));
  const gotB = (await readExports(`${dir}/b`)).map((h) => JSON.stringify(h));
  assert.deepEqual(gotA, sent.slice(0, gotA.length), "a got a prefix of the stream, in order");
  const startB = sent.indexOf(gotB[0]!);
  assert.deepEqual(gotB, sent.slice(startB), "b got everything from when it was added to the end");
  assert.ok(startB <= gotA.length, `no gap between a (${gotA.length}) and b (from ${startB})`);
});
