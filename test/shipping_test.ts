/**
 * What ships beside the code: the example config, the generated docs, the Dockerfile's command
 * and the Kubernetes manifests.
 */
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { runCli } from "./helpers.ts";

const root = new URL("../", import.meta.url).pathname;

Deno.test("config.example.yaml validates and points editors at the JSON Schema", async () => {
  const text = await Deno.readTextFile(`${root}config.example.yaml`);
  assert.equal(text.split("\n")[0], "# yaml-language-server: $schema=./config.schema.json");
  const run = await runCli(["validate", "--config", `${root}config.example.yaml`], {
    env: {
      MINIO_ENDPOINT: "http://minio.storage.svc:9000",
      MINIO_ACCESS_KEY: "access",
      MINIO_SECRET_KEY: "secret",
      INSIGHTCONNECT_API_URL:
        "https://us.api.insight.rapid7.com/connect/v1/workflows/abc/events/execute",
      INSIGHTCONNECT_API_KEY: "key",
    },
  });
  assert.equal(run.code, 0, run.stderr);
  assert.match(
    run.stdout,
    /valid; input file; outputs: archive \(minio-hitlogs\), soar \(insightconnect\)/,
  );
  const missing = await runCli(["validate", "--config", `${root}config.example.yaml`], { env: {} });
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /environment variable "MINIO_ENDPOINT" is not set and has no default/,
  );
});

Deno.test("deno task check fails when the generated docs are edited by hand", async () => {
  const copy = await Deno.makeTempDir();
  await Deno.mkdir(`${copy}/docs`);
  await Deno.copyFile(`${root}config.schema.json`, `${copy}/config.schema.json`);
  await Deno.copyFile(`${root}docs/config.md`, `${copy}/docs/config.md`);
  const check = (dir: string) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-run",
        `${root}src/config/docs.ts`,
        "--check",
        "--root",
        dir,
      ],
      stderr: "piped",
    }).output();
  assert.equal((await check(copy)).code, 0, "the committed docs are fresh");
  await Deno.writeTextFile(
    `${copy}/docs/config.md`,
    (await Deno.readTextFile(`${copy}/docs/config.md`)).replace("Journal", "Jornal"),
  );
  const stale = await check(copy);
  assert.equal(stale.code, 1);
  assert.match(
    new TextDecoder().decode(stale.stderr),
    /docs\/config\.md is stale: run "deno task docs"/,
  );
});

/** The Dockerfile's ENTRYPOINT and CMD, as JSON arrays. */
async function dockerCommand(): Promise<{ entrypoint: string[]; cmd: string[]; from: string }> {
  const text = (await Deno.readTextFile(`${root}Dockerfile`)).replace(/\\\n\s*/g, "");
  const json = (instruction: string) =>
    JSON.parse(new RegExp(`^${instruction} (\\[.*\\])$`, "m").exec(text)![1]!) as string[];
  return { entrypoint: json("ENTRYPOINT"), cmd: json("CMD"), from: /^FROM (\S+)/m.exec(text)![1]! };
}

Deno.test("Dockerfile: a pinned image, not root, narrow permissions that run the real CLI end to end", async () => {
  const { entrypoint, cmd, from } = await dockerCommand();
  const deno = (await Deno.readTextFile(`${root}.ci/run`)).match(/DENO_VERSION=(\S+)/)![1];
  assert.equal(from, `denoland/deno:debian-${deno}`, "the image pins the Deno that CI uses");
  const dockerfile = await Deno.readTextFile(`${root}Dockerfile`);
  assert.match(dockerfile, /^USER deno$/m);
  assert.deepEqual(entrypoint.slice(0, 2), ["deno", "run"]);
  const flags = entrypoint.slice(2, entrypoint.indexOf("/app/mod.ts"));
  assert.ok(!flags.includes("-A") && !flags.includes("--allow-all"));
  assert.deepEqual(entrypoint.slice(entrypoint.indexOf("/app/mod.ts")), ["/app/mod.ts"]);
  assert.deepEqual(cmd.slice(0, 1), ["run"], "the default command is the sidecar");

  // The container's paths, mapped to a scratch directory; everything else exactly as shipped.
  const dir = await Deno.makeTempDir();
  const paths: Record<string, string> = {
    "/etc/hitship": `${dir}/etc/hitship`,
    "/var/log/wallarm": `${dir}/var/log/wallarm`,
    "/var/lib/hitship": `${dir}/var/lib/hitship`,
    "/var/run/hitship": `${dir}/var/run/hitship`,
  };
  const mapped = (arg: string) =>
    Object.entries(paths).reduce((a, [from, to]) => a.replaceAll(from, to), arg);
  for (const path of Object.values(paths)) await Deno.mkdir(path, { recursive: true });
  const { makeHit } = await import("./hits.ts");
  const { startReceiver, hitsOf } = await import("./receiver.ts");
  await using receiver = await startReceiver();
  const hits = Array.from({ length: 50 }, (_, i) => JSON.stringify(makeHit(i)));
  await Deno.writeTextFile(`${paths["/var/log/wallarm"]}/hits.ndjson`, hits.join("\n") + "\n");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  // An https S3 endpoint too: its CA file sits in the config directory.
  const { newBucket, s3Env, awsList } = await import("./s3.ts");
  const s3 = s3Env();
  const bucket = await newBucket("docker");
  await Deno.copyFile(Deno.env.get("S3_CA_FILE")!, `${paths["/etc/hitship"]}/ca.pem`);
  await Deno.writeTextFile(
    `${paths["/etc/hitship"]}/hitship.yaml`,
    mapped(`data_dir: /var/lib/hitship
status_file: /var/run/hitship/status.json
input: { type: file, path: /var/log/wallarm/hits.ndjson, follow: false }
http: { listen: "127.0.0.1:${port}" }
outputs:
  - { name: local, type: file, path: /var/lib/hitship/export }
  - { name: soar, type: insightconnect, api_url: "${receiver.url}", api_key: "\${IC_KEY}" }
  - name: archive
    type: minio-hitlogs
    endpoint: ${Deno.env.get("S3_TLS_ENDPOINT")}
    bucket: ${bucket}
    access_key: "${s3.accessKey}"
    secret_key: "\${S3_SECRET}"
    tls: { ca_file: /etc/hitship/ca.pem }
`),
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags.map(mapped), `${root}mod.ts`, ...cmd.map(mapped)],
    env: { IC_KEY: receiver.key, S3_SECRET: s3.secretKey },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.doesNotMatch(stderr, /NotCapable|Requires .* access/);
  const status = JSON.parse(await Deno.readTextFile(`${paths["/var/run/hitship"]}/status.json`));
  assert.equal(status.outputs.local.delivered_hits, 50);
  assert.equal(status.outputs.soar.delivered_hits, 50);
  const notified = receiver.requests.flatMap(hitsOf);
  assert.deepEqual(notified, hits.map((h) => JSON.parse(h)));
  assert.equal(status.outputs.archive.delivered_hits, 50);
  assert.equal((await awsList(bucket)).length, 1);
});

Deno.test("Kubernetes manifests pass the Kubernetes object schemas and wire the sidecar right", async () => {
  const { Deployment } = await import("kubernetes-models/apps/v1");
  const { ConfigMap, Secret } = await import("kubernetes-models/v1");
  const models: Record<string, new (data: never) => { validate(): void }> = {
    Deployment: Deployment as never,
    ConfigMap: ConfigMap as never,
    Secret: Secret as never,
  };
  const objects: Record<string, Record<string, unknown>> = {};
  for (const file of ["deployment.yaml", "configmap.yaml", "secret.yaml"]) {
    const text = await Deno.readTextFile(`${root}deploy/kubernetes/${file}`);
    for (const doc of parseAllDocuments(text)) {
      assert.deepEqual(doc.errors, [], file);
      const object = doc.toJS() as { kind: string; metadata: { name: string } };
      const Model = models[object.kind];
      assert.ok(Model, `${file}: unexpected kind ${object.kind}`);
      new Model(object as never).validate(); // throws with the schema's complaint
      objects[object.kind] = object;
    }
  }
  interface Container {
    name: string;
    volumeMounts: Array<{ name: string; mountPath: string }>;
    livenessProbe: { httpGet: { path: string } };
    readinessProbe: { httpGet: { path: string } };
    resources: { requests?: object; limits?: object };
    securityContext: {
      allowPrivilegeEscalation: boolean;
      readOnlyRootFilesystem: boolean;
      capabilities: { drop: string[] };
    };
    envFrom: Array<{ secretRef: { name: string } }>;
  }
  interface PodSpec {
    containers: Container[];
    volumes: Array<{ name: string; emptyDir?: object }>;
    securityContext: { runAsNonRoot: boolean };
    terminationGracePeriodSeconds: number;
  }
  const pod = (objects.Deployment as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
  const sidecar = pod.containers.find((c) => c.name === "hitship")!;
  const node = pod.containers.find((c) => c.name !== "hitship")!;
  const mountOf = (c: Container, path: string) =>
    c.volumeMounts.find((m) => m.mountPath === path)?.name;
  assert.equal(
    mountOf(sidecar, "/var/log/wallarm"),
    mountOf(node, "/var/log/wallarm"),
    "one shared hit log",
  );
  assert.ok(pod.volumes.find((v) => v.name === mountOf(node, "/var/log/wallarm"))!.emptyDir);
  assert.equal(sidecar.livenessProbe.httpGet.path, "/health");
  assert.equal(sidecar.readinessProbe.httpGet.path, "/ready");
  assert.ok(sidecar.resources.requests && sidecar.resources.limits);
  assert.equal(sidecar.securityContext.allowPrivilegeEscalation, false);
  assert.equal(sidecar.securityContext.readOnlyRootFilesystem, true);
  assert.deepEqual(sidecar.securityContext.capabilities.drop, ["ALL"]);
  assert.equal(pod.securityContext.runAsNonRoot, true);

  // The ConfigMap's config is valid, and the grace period outlasts its shutdown timeout.
  const dir = await Deno.makeTempDir();
  const configText = (objects.ConfigMap as { data: Record<string, string> }).data["hitship.yaml"]!;
  await Deno.writeTextFile(`${dir}/hitship.yaml`, configText);
  const env = (objects.Secret as { stringData: Record<string, string> }).stringData;
  const run = await runCli(["validate", "--config", `${dir}/hitship.yaml`], { env });
  assert.equal(run.code, 0, run.stderr);
  const timeout = Number(/shutdown_timeout: (\d+)s/.exec(configText)![1]);
  assert.ok(pod.terminationGracePeriodSeconds > timeout);
  // Every ${VAR} of the config comes from the Secret the sidecar loads.
  assert.equal(
    sidecar.envFrom[0].secretRef.name,
    (objects.Secret as { metadata: { name: string } }).metadata.name,
  );
  for (const [, name] of configText.matchAll(/\$\{([A-Z_]+)\}/g)) assert.ok(name! in env, name);
});
