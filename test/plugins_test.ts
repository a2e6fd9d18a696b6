/**
 * Plugins of a user's own, from modules outside the repository listed under `plugins:`: checked by
 * `validate` like the built-ins, run end to end, shown by `hitship status`; and clear errors for
 * modules that cannot be used.
 */
import assert from "node:assert/strict";
import { runCli, writeConfig } from "./helpers.ts";
import { makeHit } from "./hits.ts";

const hits = Array.from({ length: 30 }, (_, i) => JSON.stringify(makeHit(i)));

/**
 * The README's plugin example, as the README shows it (the first code block of "Write a plugin"),
 * which test/docs_test.ts holds to docs/examples/ndjson_output.ts.
 */
const README = await Deno.readTextFile(new URL("../README.md", import.meta.url));
const CONTRACT = /## Write a plugin\n[\s\S]*?```ts\n([\s\S]*?)```/.exec(README)![1]!;

/** An output that appends each batch's lines to a file, and an input of lines from the config. */
const RECORDER = `import { defineInput, definePlugin, z } from "@hitship/hitship/sdk";

const recorder = definePlugin({
  type: "recorder",
  description: "Appends each batch's lines to a file",
  schema: z.strictObject({ file: z.string() }),
  defaultEvents: ["hits", "system"],
  supportedEvents: ["hits", "system"],
  create(config) {
    return {
      async send(batch) {
        const text = [];
        for await (const lines of batch.lines()) {
          for (const line of lines) text.push(new TextDecoder().decode(line) + "\\n");
        }
        await Deno.writeTextFile(config.file, text.join(""), { append: true });
        return { ok: true };
      },
      async sendEvent(event) {
        await Deno.writeTextFile(config.file + ".events", event.name + "\\n", { append: true });
        return { ok: true };
      },
    };
  },
});

const given = defineInput({
  type: "given-lines",
  description: "Hit lines from a file, read once",
  schema: z.strictObject({ from: z.string() }),
  async *open(config) {
    yield { kind: "data", data: await Deno.readFile(config.from) };
    yield { kind: "end" };
  },
});

export default [recorder, given];
`;

Deno.test("plugins: a module outside the repo, listed in plugins:, is validated, runs end to end and shows in status", async () => {
  const dir = await Deno.makeTempDir();
  const posted: string[] = [];
  await using siem = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (r) => {
    posted.push(...(await r.text()).trim().split("\n"));
    return new Response(null, { status: 202 });
  });
  const modules = await Deno.makeTempDir(); // not under the repository
  await Deno.writeTextFile(`${modules}/my_sink.ts`, CONTRACT);
  await Deno.writeTextFile(`${modules}/recorder.ts`, RECORDER);
  await Deno.writeTextFile(`${dir}/input.ndjson`, hits.join("\n") + "\n");
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
plugins: [${modules}/my_sink.ts, "file://${modules}/recorder.ts"]
input: { type: given-lines, from: ${dir}/input.ndjson }
outputs:
  - { name: sink, type: ndjson-post, url: "http://127.0.0.1:${siem.addr.port}/", max_hits: 10 }
  - { name: rec, type: recorder, file: ${dir}/recorded.ndjson, max_hits: 7, interval: 1m }
  - { name: rec2, type: recorder, file: ${dir}/recorded2.ndjson, filter: { attack_type: [sqli] } }
`,
  );
  const validate = await runCli(["validate", "--config", config]);
  assert.equal(validate.code, 0, validate.stderr);
  assert.match(
    validate.stdout,
    /valid; input given-lines; outputs: sink \(ndjson-post\), rec \(recorder\)/,
  );
  const run = await runCli(["run", "--config", config]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(await Deno.readTextFile(`${dir}/recorded.ndjson`), hits.join("\n") + "\n");
  assert.deepEqual(posted, hits, "the README's plugin posted every hit, in order");
  const sqli = hits.filter((h) => JSON.parse(h).attack_type === "sqli");
  assert.equal(await Deno.readTextFile(`${dir}/recorded2.ndjson`), sqli.join("\n") + "\n");
  const status = await runCli(["status", "--config", config]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /input: given-lines: 30 lines, 30 hits, 0 rejected/);
  assert.match(status.stdout, /\nsink +ndjson-post +active +30 +0 +- +3 +0 /);
  assert.match(status.stdout, /\nrec +recorder +active +30 +0 +- +5 +0 /);
  // A user plugin's reference, from its schema.
  const docs = await runCli(["docs", "--config", config]);
  assert.equal(docs.code, 0, docs.stderr);
  assert.match(docs.stdout, /## Output `type: recorder`\n\nAppends each batch's lines to a file\./);
  assert.match(docs.stdout, /### `type: given-lines`/);
  assert.match(docs.stdout, /\| `file` \(required\) \| string \|/);
});

Deno.test("plugins: an unknown key in a user plugin's output is an error with its place, like a built-in's", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/my_sink.ts`, CONTRACT);
  const config = await writeConfig(
    dir,
    `plugins: [./my_sink.ts]
outputs:
  - name: sink
    type: ndjson-post
    url: http://siem/
    ur: http://other/
`,
  );
  const validate = await runCli(["validate", "--config", config]);
  assert.equal(validate.code, 1);
  assert.equal(
    validate.stderr,
    `${config}:6:5: outputs[0].ur: unknown key "ur", did you mean "url"?\n`,
  );
});

Deno.test("plugins: bad modules are clear errors naming the module and its place", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/broken.ts`, "export default definePlugin({ type: ");
  await Deno.writeTextFile(`${dir}/nothing.ts`, "export default { type: 'x' };\n");
  await Deno.writeTextFile(
    `${dir}/clash.ts`,
    CONTRACT.replace('type: "ndjson-post"', 'type: "file"'),
  );
  const check = async (module: string) => {
    const config = await writeConfig(
      dir,
      `plugins:\n  - ${module}\noutputs: [{ name: a, type: file, path: /x }]\n`,
      `${module.replace(/\W/g, "_")}.yaml`,
    );
    const result = await runCli(["validate", "--config", config]);
    assert.equal(result.code, 1, module);
    return result.stderr.replace(config, "CONFIG");
  };
  assert.match(
    await check("./missing.ts"),
    /^CONFIG:2:5: plugins\[0\]: cannot load plugin module "\.\/missing\.ts": Module not found/,
  );
  assert.match(
    await check("./broken.ts"),
    /^CONFIG:2:5: plugins\[0\]: cannot load plugin module "\.\/broken\.ts": /,
  );
  assert.equal(
    await check("./nothing.ts"),
    'CONFIG:2:5: plugins[0]: plugin module "./nothing.ts" has no plugin as its default export: expected definePlugin(...) or defineInput(...) from @hitship/hitship/sdk, or an array of them\n',
  );
  assert.equal(
    await check("./clash.ts"),
    'CONFIG:2:5: plugins[0]: plugin module "./clash.ts" declares output type "file", which is a built-in output type: give it a type of its own\n',
  );
});
