/**
 * The Fluent Bit recipes, run for real with Fluent Bit 5.1.1: the Kubernetes example's Fluent Bit
 * config (deploy/kubernetes-fluent-bit/fluent-bit.yaml) into hitship with that example's own
 * config (its outputs pointed at the test S3 server and a local InsightConnect trigger), and the
 * forward and http recipes of docs/inputs.md. Fluent Bit tails a hit log; every hit arrives once,
 * JSON-equal, with no `date` field. Only hosts, ports and file paths are changed.
 */
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { FLUENT_BIT, needsFluentBit } from "./fluent_bit.ts";
import {
  freePort,
  listening,
  readExports,
  spawnCli,
  statusIn,
  until,
  writeConfig,
} from "./helpers.ts";
import { assertEachOnce, hitLines } from "./outputs.ts";
import { hitsOf, startReceiver } from "./receiver.ts";

const root = new URL("../", import.meta.url).pathname;
const KEY = "forward-recipe-key-0b7";

/** The objects of a manifest file by `Kind/name`. */
async function manifest(path: string): Promise<Record<string, Record<string, unknown>>> {
  const objects: Record<string, Record<string, unknown>> = {};
  for (const doc of parseAllDocuments(await Deno.readTextFile(path))) {
    const object = doc.toJS() as { kind: string; metadata: { name: string } };
    objects[`${object.kind}/${object.metadata.name}`] = object;
  }
  return objects;
}

/** Fluent Bit with config `conf` (and `env`) until stopped. */
function fluentBit(conf: string, env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(FLUENT_BIT!, {
    args: ["-c", conf],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

/** Waits for `check`; on a timeout, says what Fluent Bit logged and what hitship's status holds. */
async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  fb: Deno.ChildProcess,
  statusDir: string,
): Promise<void> {
  try {
    await until(what, check);
  } catch (error) {
    const log = await stop(fb);
    const status = JSON.stringify((await statusIn(statusDir))?.inputs);
    throw new Error(
      `${(error as Error).message}\nstatus: ${status}\nFluent Bit:\n${log.slice(-3000)}`,
    );
  }
}

async function stop(child: Deno.ChildProcess): Promise<string> {
  try {
    child.kill("SIGTERM");
  } catch { /* gone */ }
  const out = await child.output();
  return new TextDecoder().decode(out.stderr);
}

Deno.test(
  needsFluentBit(
    "Kubernetes example, run: its Fluent Bit config tails the hit log and forwards to hitship with its own config; every hit once, JSON-equal, into S3 and InsightConnect",
  ),
  async () => {
    const fbObjects = await manifest(`${root}deploy/kubernetes-fluent-bit/fluent-bit.yaml`);
    const hsObjects = await manifest(`${root}deploy/kubernetes-fluent-bit/hitship.yaml`);
    const fbData = (fbObjects["ConfigMap/fluent-bit-config"]!.data ?? {}) as Record<string, string>;
    const hsData = (hsObjects["ConfigMap/hitship-config"]!.data ?? {}) as Record<string, string>;
    const dir = await Deno.makeTempDir();
    const forwardPort = freePort();
    const httpPort = freePort();
    const { newBucket, s3Env, awsList, minioGet } = await import("./s3.ts");
    const s3 = s3Env();
    const bucket = await newBucket("k8s");
    await using trigger = await startReceiver();

    // hitship's side: the example's config, with its places and ports here.
    const hitshipConfig = hsData["hitship.yaml"]!
      .replaceAll("/var/lib/hitship", `${dir}/data`)
      .replaceAll("/var/run/hitship", `${dir}/run`)
      .replace("listen: 0.0.0.0:24224", `listen: 127.0.0.1:${forwardPort}`)
      .replace("listen: 0.0.0.0:9464", `listen: 127.0.0.1:${httpPort}`)
      .replace("bucket: wallarm-hits", `bucket: ${bucket}`);
    await Deno.mkdir(`${dir}/run`);
    const path = await writeConfig(dir, hitshipConfig);
    const hitship = spawnCli(["run", "--config", path], {
      env: {
        HITSHIP_FORWARD_KEY: KEY,
        MINIO_ENDPOINT: s3.endpoint,
        MINIO_ACCESS_KEY: s3.accessKey,
        MINIO_SECRET_KEY: s3.secretKey,
        INSIGHTCONNECT_API_URL: trigger.url,
        INSIGHTCONNECT_API_KEY: trigger.key,
      },
    });
    hitship.stdin.close();
    await listening(forwardPort);

    // Fluent Bit's side: the example's config, with its places and hitship's address here.
    await Deno.mkdir(`${dir}/fb`);
    await Deno.writeTextFile(`${dir}/fb/parsers.conf`, fbData["parsers.conf"]!);
    await Deno.writeTextFile(
      `${dir}/fb/fluent-bit.conf`,
      fbData["fluent-bit.conf"]!
        .replaceAll("/var/log/wallarm/hits.ndjson", `${dir}/hits.ndjson`)
        .replaceAll("/var/fluent-bit/state", `${dir}/fb`)
        .replace("hitship.wallarm.svc.cluster.local", "127.0.0.1")
        .replace(/Port(\s+)24224/, `Port$1${forwardPort}`)
        .replace("Parsers_File  parsers.conf", `Parsers_File  ${dir}/fb/parsers.conf`),
    );
    const hits = hitLines(500);
    await Deno.writeTextFile(`${dir}/hits.ndjson`, hits.slice(0, 250).join("\n") + "\n");
    const fb = fluentBit(`${dir}/fb/fluent-bit.conf`, {
      HITSHIP_FORWARD_KEY: KEY,
      NODE_NAME: "node-1",
    });
    await Deno.writeTextFile(`${dir}/hits.ndjson`, hits.slice(250).join("\n") + "\n", {
      append: true,
    });
    await waitFor(
      "hitship journaled the 500 hits",
      async () => (await statusIn(`${dir}/run`))?.inputs?.["fluent-bit"]?.hits === 500,
      fb,
      `${dir}/run`,
    );
    const fbLog = await stop(fb);
    // SIGTERM drains: the archive's window is uploaded, the notifications sent.
    hitship.kill("SIGTERM");
    const result = await hitship.output();
    assert.equal(result.code, 0, new TextDecoder().decode(result.stderr) + fbLog);
    const status = await statusIn(`${dir}/run`);
    assert.equal(status.inputs["fluent-bit"].rejected, 0);
    const archived: unknown[] = [];
    for (const key of await awsList(bucket)) {
      archived.push(...JSON.parse(new TextDecoder().decode(await minioGet(bucket, key))));
    }
    assertEachOnce(archived, hits);
    for (const hit of archived) assert.ok(!("date" in (hit as object)), "no date field added");
    const wanted = hits.filter((h) => ["sqli", "rce", "xxe"].includes(JSON.parse(h).attack_type));
    assertEachOnce(trigger.delivered(), wanted);
    assert.ok(trigger.requests.every((r) => hitsOf(r).length > 0 || r.body?.details));
    await Deno.remove(dir, { recursive: true });
  },
);

/** The ```ini block after `label` in docs/inputs.md. */
async function recipe(label: string): Promise<string> {
  const text = await Deno.readTextFile(`${root}docs/inputs.md`);
  const at = text.indexOf(label);
  assert.ok(at >= 0, label);
  return /```ini\n([\s\S]*?)```/.exec(text.slice(at))![1]!;
}

for (const kind of ["forward", "http"] as const) {
  Deno.test(
    needsFluentBit(
      `docs/inputs.md, Fluent Bit ${kind} recipe, run: every hit arrives in hitship once, JSON-equal, no date field`,
    ),
    async () => {
      const dir = await Deno.makeTempDir();
      const port = freePort();
      const forward = await recipe("**Fluent Bit, forward**");
      const input = forward.slice(0, forward.indexOf("[OUTPUT]"));
      const output = kind === "forward"
        ? forward.slice(forward.indexOf("[OUTPUT]"))
        : await recipe("**Fluent Bit, http**");
      const conf = `[SERVICE]
    Flush         1
    Parsers_File  ${dir}/parsers.conf

${input}
${output}`
        .replaceAll("/var/log/wallarm/hits.ndjson", `${dir}/hits.ndjson`)
        .replaceAll("/var/lib/fluent-bit/hits.db", `${dir}/hits.db`)
        .replace("hitship.wallarm.svc.cluster.local", "127.0.0.1")
        .replace(/Port(\s+)(24224|8686)/, `Port$1${port}`);
      await Deno.writeTextFile(
        `${dir}/parsers.conf`,
        "[PARSER]\n    Name    hit\n    Format  json\n",
      );
      await Deno.writeTextFile(`${dir}/fluent-bit.conf`, conf);
      const token = "recipe-token-5c2";
      const input_ = kind === "forward"
        ? `{ type: forward, listen: "127.0.0.1:${port}", shared_key: "\${HITSHIP_FORWARD_KEY}", tags: [wallarm.hits] }`
        : `{ type: http, listen: "127.0.0.1:${port}", auth_token: "\${HITSHIP_HTTP_TOKEN}" }`;
      const path = await writeConfig(
        dir,
        `data_dir: ${dir}/data
status_file: ${dir}/status.json
input: ${input_}
outputs: [{ name: local, type: file, path: ${dir}/out, interval: 1h }]
`,
      );
      const env = { HITSHIP_FORWARD_KEY: KEY, HITSHIP_HTTP_TOKEN: token, NODE_NAME: "node-1" };
      const hitship = spawnCli(["run", "--config", path], { env });
      hitship.stdin.close();
      await listening(port);
      const hits = hitLines(300);
      await Deno.writeTextFile(`${dir}/hits.ndjson`, hits.join("\n") + "\n");
      const fb = fluentBit(`${dir}/fluent-bit.conf`, env);
      await waitFor(
        "hitship journaled the 300 hits",
        async () => (await statusIn(dir))?.inputs?.input?.hits === 300,
        fb,
        dir,
      );
      const fbLog = await stop(fb);
      hitship.kill("SIGTERM");
      const result = await hitship.output();
      assert.equal(result.code, 0, new TextDecoder().decode(result.stderr) + fbLog);
      const exported = await readExports(`${dir}/out`);
      assertEachOnce(exported, hits);
      for (const hit of exported) assert.ok(!("date" in (hit as object)), "no date field added");
      assert.equal((await statusIn(dir)).inputs.input.rejected, 0);
      await Deno.remove(dir, { recursive: true });
    },
  );
}
