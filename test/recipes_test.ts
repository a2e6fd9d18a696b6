/**
 * The README's sender recipes and the Kubernetes example in which the nodes' Fluent Bit DaemonSet
 * forwards hits to hitship, tested as far as this machine allows: Fluent Bit, Fluentd and Vector
 * do not run here, so the manifests are checked against the Kubernetes object schemas, the two
 * sides' settings against each other, and hitship's part is run with what the Fluent Bit config
 * says (tag, shared key, acks), sent by the Fluentd organisation's Forward client; every hitship
 * config in docs/inputs.md passes `hitship validate`.
 */
import assert from "node:assert/strict";
import { FluentClient } from "@fluent-org/logger";
import { parse, parseAllDocuments } from "yaml";
import {
  freePort,
  listening,
  readExports,
  runCli,
  spawnCli,
  statusIn,
  until,
  writeConfig,
} from "./helpers.ts";
import { makeHit } from "./hits.ts";

const root = new URL("../", import.meta.url).pathname;
const example = `${root}deploy/kubernetes-fluent-bit/`;

// deno-lint-ignore no-explicit-any
type Obj = any;

/** Every object of the example's manifests by `Kind/name`, each checked against its schema. */
async function manifests(): Promise<Record<string, Obj>> {
  const apps = await import("kubernetes-models/apps/v1");
  const core = await import("kubernetes-models/v1");
  const models: Record<string, new (data: never) => { validate(): void }> = {
    StatefulSet: apps.StatefulSet as never,
    DaemonSet: apps.DaemonSet as never,
    Service: core.Service as never,
    ConfigMap: core.ConfigMap as never,
    Secret: core.Secret as never,
  };
  const objects: Record<string, Obj> = {};
  for (const file of ["hitship.yaml", "fluent-bit.yaml"]) {
    for (const doc of parseAllDocuments(await Deno.readTextFile(example + file))) {
      assert.deepEqual(doc.errors, [], file);
      const object = doc.toJS();
      const Model = models[object.kind];
      assert.ok(Model, `${file}: unexpected kind ${object.kind}`);
      new Model(object as never).validate(); // throws with the schema's complaint
      objects[`${object.kind}/${object.metadata.name}`] = object;
    }
  }
  return objects;
}

/** The sections of a Fluent Bit classic config: `[NAME]` and its `Key Value` lines. */
function fluentBitSections(text: string): Array<{ name: string; keys: Record<string, string> }> {
  const sections: Array<{ name: string; keys: Record<string, string> }> = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      sections.push({ name: header[1]!.toUpperCase(), keys: {} });
      continue;
    }
    const [key, ...value] = line.split(/\s+/);
    sections.at(-1)!.keys[key!.toLowerCase()] = value.join(" ");
  }
  return sections;
}

Deno.test("Kubernetes: Fluent Bit DaemonSet -> hitship Service: valid objects, both sides agree, and hitship takes what that Fluent Bit config sends", async () => {
  const objects = await manifests();
  const hitshipSet = objects["StatefulSet/hitship"];
  const service = objects["Service/hitship"];
  const hitshipConfigText: string = objects["ConfigMap/hitship-config"].data["hitship.yaml"];
  const hitshipSecret = objects["Secret/hitship-secrets"].stringData;
  const fluentBit = objects["DaemonSet/fluent-bit"];
  const fluentBitSecret = objects["Secret/fluent-bit-hitship"].stringData;
  const sections = fluentBitSections(
    objects["ConfigMap/fluent-bit-config"].data["fluent-bit.conf"],
  );
  const parsers = fluentBitSections(objects["ConfigMap/fluent-bit-config"].data["parsers.conf"]);

  // hitship's side: the config is valid with its Secret, the Service reaches its forward port.
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/hitship.yaml`, hitshipConfigText);
  const valid = await runCli(["validate", "--config", `${dir}/hitship.yaml`], {
    env: hitshipSecret,
  });
  assert.equal(valid.code, 0, valid.stderr);
  const hitshipConfig = parse(hitshipConfigText);
  const forward = hitshipConfig.inputs.find((i: Obj) => i.type === "forward");
  const listenPort = Number(forward.listen.split(":").at(-1));
  const pod = hitshipSet.spec.template;
  for (const [key, value] of Object.entries(service.spec.selector)) {
    assert.equal(pod.metadata.labels[key], value, "the Service selects hitship's pods");
  }
  const servicePort = service.spec.ports.find((p: Obj) => p.name === "forward");
  const containerPort = pod.spec.containers[0].ports.find((p: Obj) =>
    p.name === servicePort.targetPort
  );
  assert.equal(containerPort.containerPort, listenPort);
  assert.ok(
    hitshipSet.spec.volumeClaimTemplates.some((c: Obj) =>
      pod.spec.containers[0].volumeMounts.some((m: Obj) =>
        m.name === c.metadata.name && m.mountPath === hitshipConfig.data_dir
      )
    ),
    "the journal is on a persistent volume",
  );
  assert.ok(pod.spec.terminationGracePeriodSeconds > parseInt(hitshipConfig.shutdown_timeout));

  // Fluent Bit's side: tails the hit log as JSON records, forwards them with acks and the key.
  const input = sections.find((s) => s.name === "INPUT" && s.keys.name === "tail")!;
  const output = sections.find((s) => s.name === "OUTPUT" && s.keys.name === "forward")!;
  const parser = parsers.find((s) => s.keys.name === input.keys.parser)!;
  assert.equal(parser.keys.format, "json");
  assert.equal(parser.keys.time_key, undefined, "the hit's own time field stays in the record");
  assert.equal(output.keys.match, input.keys.tag);
  assert.deepEqual(forward.tags, [input.keys.tag]);
  assert.equal(
    output.keys.host,
    `${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local`,
  );
  assert.equal(Number(output.keys.port), servicePort.port);
  assert.equal(output.keys.require_ack_response, "true");
  const keyVar = /^\$\{(\w+)\}$/.exec(output.keys.shared_key)![1]!;
  const hitshipKeyVar = /^\$\{(\w+)\}$/.exec(forward.shared_key)![1]!;
  assert.equal(fluentBitSecret[keyVar], hitshipSecret[hitshipKeyVar], "one shared key");
  const fluentBitPod = fluentBit.spec.template.spec;
  assert.equal(fluentBitPod.containers[0].envFrom[0].secretRef.name, "fluent-bit-hitship");
  assert.ok(
    fluentBitPod.containers[0].volumeMounts.some((m: Obj) =>
      input.keys.path.startsWith(m.mountPath + "/")
    ),
    "Fluent Bit sees the hit log",
  );

  // hitship with that forward input, sent to as that Fluent Bit would: its tag, key and acks.
  const port = freePort();
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
inputs:
  - ${JSON.stringify({ ...forward, listen: `127.0.0.1:${port}` })}
outputs: [{ name: local, type: file, path: ${dir}/out, interval: 1h }]
`,
    "local.yaml",
  );
  const child = spawnCli(["run", "--config", config], { env: hitshipSecret });
  child.stdin.close();
  await listening(port);
  const [prefix, ...rest] = input.keys.tag!.split(".");
  const send = async (tag: string[], sharedKey: string, hits: Obj[]) => {
    const client = new FluentClient(tag[0], {
      eventMode: "PackedForward",
      socket: { host: "127.0.0.1", port, timeout: 30_000 },
      security: { clientHostname: "node-1", sharedKey },
      ack: { ackTimeout: 30_000 },
    });
    await Promise.all(hits.map((hit) => client.emit(tag.slice(1).join("."), hit)));
    await client.disconnect();
  };
  const hits = Array.from({ length: 40 }, (_, i) => makeHit(i));
  await send([prefix!, ...rest], fluentBitSecret[keyVar], hits);
  // Fluent Bit's other logs, on the same connection settings, are acknowledged and left out.
  await send(["kube", "var", "log"], fluentBitSecret[keyVar], [makeHit(1000)]);
  await until(
    "the hits journaled",
    async () => (await statusIn(`${dir}/data`))?.input?.hits === 40,
  );
  child.kill("SIGTERM");
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.deepEqual(await readExports(`${dir}/out`), hits);
  assert.equal((await statusIn(`${dir}/data`)).inputs["fluent-bit"].type, "forward");
});

Deno.test("docs/inputs.md: every hitship config of the inputs and their recipes passes hitship validate", async () => {
  const section = await Deno.readTextFile(`${root}docs/inputs.md`);
  const configs = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.ok(configs.length >= 3, `${configs.length} configs`);
  const dir = await Deno.makeTempDir();
  for (const [i, text] of configs.entries()) {
    const path = `${dir}/readme-${i}.yaml`;
    // An input's own example leaves the outputs to the rest of the config.
    const outputs = /^outputs:/m.test(text)
      ? ""
      : `outputs: [{ name: o, type: file, path: ${dir} }]\n`;
    await Deno.writeTextFile(path, `data_dir: ${dir}/data\n${text}${outputs}`);
    const run = await runCli(["validate", "--config", path], {
      env: {
        HITSHIP_HTTP_TOKEN: "t0ken",
        HITSHIP_FORWARD_KEY: "k3y",
        MINIO_ENDPOINT: "http://127.0.0.1:9000",
        MINIO_ACCESS_KEY: "a",
        MINIO_SECRET_KEY: "s",
      },
    });
    assert.equal(run.code, 0, `config ${i} of the Inputs section:\n${text}\n${run.stderr}`);
  }
});

Deno.test("docs/destinations.md: every hitship config of the destinations passes hitship validate", async () => {
  const text = await Deno.readTextFile(`${root}docs/destinations.md`);
  const configs = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!)
    .filter((config) => /^outputs:/m.test(config));
  assert.equal(configs.length, 8, "one for each destination");
  const types = configs.map((config) => config.match(/type: (\S+)/)![1]);
  assert.deepEqual(types, [
    "http",
    "datadog",
    "sumologic",
    "splunk-hec",
    "elasticsearch",
    "syslog",
    "forward",
    "opentelemetry",
  ]);
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/ca.pem`, "");
  for (const [i, config] of configs.entries()) {
    const path = `${dir}/destination-${i}.yaml`;
    await Deno.writeTextFile(path, `data_dir: ${dir}/data\n${config}`);
    const run = await runCli(["validate", "--config", path], {
      env: {
        WEBHOOK_TOKEN: "t",
        DD_API_KEY: "k",
        SUMO_HTTP_SOURCE_URL: "https://collectors.sumologic.com/receiver/v1/http/x",
        SPLUNK_HEC_TOKEN: "t",
        ES_API_KEY: "k",
        FORWARD_KEY: "k",
        OTLP_KEY: "k",
      },
    });
    assert.equal(run.code, 0, `config ${i} of docs/destinations.md:\n${config}\n${run.stderr}`);
  }
});
