/**
 * The image, built and run for real: `podman build` of the Dockerfile on the local stand-in of
 * `denoland/deno:debian-2.9.6` (../shared/tools/container/standin-base.sh, as CI runs it), then
 * `podman run` the way README shows and the way deploy/kubernetes runs it (read-only root, no
 * capabilities, no new privileges, not root); then deploy/kubernetes and
 * deploy/kubernetes-fluent-bit played with `podman kube play` (README says what differs from a
 * cluster). Skipped, with the reason in the name, where podman, the stand-in base or (for the
 * Fluent Bit example) Fluent Bit is missing.
 */
import assert from "node:assert/strict";
import { freePort, until } from "./helpers.ts";
import { hitLines } from "./outputs.ts";
import { FLUENT_BIT, needsFluentBit } from "./fluent_bit.ts";

const BASE = "docker.io/denoland/deno:debian-2.9.6";
const IMAGE = "localhost/hitship:test";
const root = new URL("../", import.meta.url).pathname;

function podmanEnv(): Record<string, string> {
  const conf = Deno.env.get("CONTAINERS_CONF") ?? "/tmp/hitship-image/containers.conf";
  try {
    Deno.statSync(conf);
    return { CONTAINERS_CONF: conf };
  } catch {
    return {};
  }
}

async function podman(
  args: string[],
  options: { stdin?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command("podman", {
    args,
    env: podmanEnv(),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Why the image tests cannot run here, or undefined. */
async function unavailable(): Promise<string | undefined> {
  if (Deno.uid() !== 0) return "podman needs root here";
  try {
    const base = await podman(["image", "exists", BASE]);
    if (base.code !== 0) {
      return "no stand-in base image (bash ../shared/tools/container/standin-base.sh)";
    }
  } catch {
    return "no podman (bash ../shared/tools/container/standin-base.sh)";
  }
  return undefined;
}

const reason = await unavailable();

function needsImage(name: string): { name: string; ignore: boolean } {
  return reason ? { name: `${name} (skipped: ${reason})`, ignore: true } : { name, ignore: false };
}

let built: Promise<number> | undefined;
/** Builds the image once; its build time in seconds. */
function build(): Promise<number> {
  built ??= (async () => {
    const started = performance.now();
    // Behind a TLS-inspecting proxy the build needs this host's CA bundle, as a build secret
    // (README, Docker); it does not stay in the image.
    const bundle = "/etc/ssl/certs/ca-certificates.crt";
    const secret = await Deno.stat(bundle).then(
      () => ["--secret", `id=ca,src=${bundle}`],
      () => [],
    );
    const out = await podman(["build", "--pull=never", ...secret, "-t", IMAGE, root]);
    assert.equal(out.code, 0, out.stdout.slice(-3000) + out.stderr.slice(-3000));
    return (performance.now() - started) / 1000;
  })();
  return built;
}

/** Host directories for the container's volumes, owned as the image's user needs. */
async function volumes(): Promise<{ dir: string; args: string[] }> {
  const dir = await Deno.makeTempDir({ prefix: "hitship-image-" });
  for (const sub of ["etc", "log", "data", "run"]) await Deno.mkdir(`${dir}/${sub}`);
  // The data and status directories belong to the image's user, deno (1993).
  await Deno.chown(`${dir}/data`, 1993, 1993);
  await Deno.chown(`${dir}/run`, 1993, 1993);
  await Deno.chmod(dir, 0o755);
  return {
    dir,
    args: [
      "-v",
      `${dir}/etc:/etc/hitship:ro`,
      "-v",
      `${dir}/log:/var/log/wallarm:ro`,
      "-v",
      `${dir}/data:/var/lib/hitship`,
      "-v",
      `${dir}/run:/var/run/hitship`,
    ],
  };
}

/** The exported hits under a host directory, parsed. */
async function exported(dir: string): Promise<unknown[]> {
  const hits: unknown[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.endsWith(".json")) {
        hits.push(...JSON.parse(await Deno.readTextFile(`${dir}/${entry.name}`)));
      }
    }
  } catch {
    // not there yet
  }
  return hits;
}

/** Starts the sidecar in the background; its time to /health 200, in ms, and its RSS there. */
async function startSidecar(
  name: string,
  args: string[],
  port: number,
): Promise<{ toHealthMs: number; rssMiB: number }> {
  await podman(["rm", "-f", name]);
  const started = performance.now();
  const run = await podman(["run", "-d", "--name", name, "--network=host", ...args, IMAGE]);
  assert.equal(run.code, 0, run.stderr);
  let healthy = false;
  for (let i = 0; i < 600 && !healthy; i++) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      await response.body?.cancel();
      healthy = response.status === 200;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  const toHealthMs = performance.now() - started;
  assert.ok(healthy, (await podman(["logs", name])).stderr);
  const pid = (await podman(["inspect", "--format", "{{.State.Pid}}", name])).stdout.trim();
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const rssMiB = Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
  return { toHealthMs, rssMiB };
}

Deno.test(
  needsImage("image: built from the Dockerfile, only runtime packages, a CA bundle, the deno user"),
  async () => {
    const seconds = await build();
    const size = Number(
      (await podman(["image", "inspect", "--format", "{{.Size}}", IMAGE])).stdout,
    );
    const baseSize = Number(
      (await podman(["image", "inspect", "--format", "{{.Size}}", BASE])).stdout,
    );
    console.log(
      `image: built in ${seconds.toFixed(0)} s, ${(size / 1e6).toFixed(0)} MB on a ${
        (baseSize / 1e6).toFixed(0)
      } MB base`,
    );
    const look = await podman([
      "run",
      "--rm",
      "--entrypoint",
      "sh",
      IMAGE,
      "-c",
      "id -u; ls /deno-dir/npm/registry.npmjs.org /deno-dir/npm/registry.npmjs.org/@* 2>/dev/null; " +
      "grep -c 'BEGIN CERTIFICATE' /etc/ssl/certs/ca-certificates.crt",
    ]);
    assert.equal(look.code, 0, look.stderr);
    const lines = look.stdout.trim().split("\n");
    assert.equal(lines[0], "1993", "runs as deno");
    for (
      const testOnly of ["kubernetes-models", "msgpackr", "logger", "parse-prometheus-text-format"]
    ) {
      assert.ok(!lines.includes(testOnly), `${testOnly} is not in the image: ${look.stdout}`);
    }
    for (const runtime of ["zod", "yaml", "minio", "msgpack"]) {
      assert.ok(lines.includes(runtime), `${runtime} is in the image: ${look.stdout}`);
    }
    assert.ok(Number(lines.at(-1)) > 100, "a CA bundle with the Mozilla roots");
  },
);

Deno.test(
  needsImage(
    "image: run as README shows: the hit log and stdin in, exports out, /health /ready /metrics, SIGTERM drains and exits 0",
  ),
  async () => {
    await build();
    const { dir, args } = await volumes();
    const port = freePort();
    const hits = hitLines(200);
    await Deno.writeTextFile(`${dir}/log/hits.ndjson`, hits.slice(0, 100).join("\n") + "\n");
    await Deno.writeTextFile(
      `${dir}/etc/hitship.yaml`,
      `data_dir: /var/lib/hitship
status_file: /var/run/hitship/status.json
input: { type: file, path: /var/log/wallarm/hits.ndjson }
http: { listen: "127.0.0.1:${port}" }
outputs: [{ name: local, type: file, path: /var/lib/hitship/export, interval: 1s }]
`,
    );
    const name = `hitship-test-${port}`;
    try {
      await startSidecar(name, args, port);
      await Deno.writeTextFile(`${dir}/log/hits.ndjson`, hits.slice(100).join("\n") + "\n", {
        append: true,
      });
      await until(
        "200 hits exported",
        async () => (await exported(`${dir}/data/export`)).length === 200,
      );
      const ready = await fetch(`http://127.0.0.1:${port}/ready`);
      assert.equal(ready.status, 200);
      await ready.body?.cancel();
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(
        metrics,
        /hitship_output_delivered_hits_total\{output="local",type="file"\} 200/,
      );
      const stop = await podman(["stop", "-t", "30", name]);
      assert.equal(stop.code, 0, stop.stderr);
      const code = (await podman(["inspect", "--format", "{{.State.ExitCode}}", name])).stdout
        .trim();
      assert.equal(code, "0", (await podman(["logs", name])).stderr);
      assert.deepEqual(await exported(`${dir}/data/export`), hits.map((h) => JSON.parse(h)));
      const status = JSON.parse(await Deno.readTextFile(`${dir}/run/status.json`));
      assert.equal(status.outputs.local.delivered_hits, 200);
    } finally {
      await podman(["rm", "-f", name]);
    }

    // stdin: a batch piped through the image, exported, exit 0 at its end.
    await Deno.writeTextFile(
      `${dir}/etc/stdin.yaml`,
      `data_dir: /var/lib/hitship/stdin
outputs: [{ name: local, type: file, path: /var/lib/hitship/stdin-export }]
`,
    );
    const piped = await podman(
      [
        "run",
        "--rm",
        "-i",
        "--network=host",
        ...args,
        IMAGE,
        "run",
        "--config",
        "/etc/hitship/stdin.yaml",
      ],
      { stdin: hits.join("\n") + "\n" },
    );
    assert.equal(piped.code, 0, piped.stderr);
    assert.deepEqual(await exported(`${dir}/data/stdin-export`), hits.map((h) => JSON.parse(h)));
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test(
  needsImage(
    "image: as deploy/kubernetes runs it (read-only root, no capabilities, no new privileges, user 1993): start-up and RSS against a writable root",
  ),
  async () => {
    await build();
    const { dir, args } = await volumes();
    const figures: string[] = [];
    for (const locked of [false, true]) {
      const port = freePort();
      await Deno.writeTextFile(
        `${dir}/etc/hitship.yaml`,
        `data_dir: /var/lib/hitship/${port}
status_file: /var/run/hitship/status-${port}.json
input: { type: file, path: /var/log/wallarm/hits.ndjson }
http: { listen: "127.0.0.1:${port}" }
outputs: [{ name: local, type: file, path: /var/lib/hitship/${port}-export, interval: 1s }]
`,
      );
      await Deno.writeTextFile(`${dir}/log/hits.ndjson`, hitLines(10).join("\n") + "\n");
      const hardening = locked
        ? [
          "--read-only",
          "--cap-drop=ALL",
          "--security-opt=no-new-privileges",
          "--user",
          "1993:1993",
          "--tmpfs",
          "/tmp",
        ]
        : [];
      const name = `hitship-test-${port}`;
      try {
        const { toHealthMs, rssMiB } = await startSidecar(name, [...hardening, ...args], port);
        await until(
          "10 hits exported",
          async () => (await exported(`${dir}/data/${port}-export`)).length === 10,
        );
        figures.push(
          `${locked ? "read-only root" : "writable root"}: /health 200 after ${
            toHealthMs.toFixed(0)
          } ms, RSS ${rssMiB.toFixed(0)} MiB`,
        );
        const stop = await podman(["stop", "-t", "30", name]);
        assert.equal(stop.code, 0);
        const code = (await podman(["inspect", "--format", "{{.State.ExitCode}}", name])).stdout
          .trim();
        assert.equal(code, "0", (await podman(["logs", name])).stderr);
      } finally {
        await podman(["rm", "-f", name]);
      }
    }
    console.log(`image: ${figures.join("; ")}`);
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test(
  needsImage(
    "image: an https output trusts a private CA given as NODE_EXTRA_CA_CERTS; validate and test run through the image",
  ),
  async () => {
    await build();
    const { newBucket, s3Env, awsList } = await import("./s3.ts");
    const s3 = s3Env();
    const bucket = await newBucket("image");
    const { dir, args } = await volumes();
    await Deno.copyFile(Deno.env.get("S3_CA_FILE")!, `${dir}/etc/private-ca.pem`);
    await Deno.writeTextFile(
      `${dir}/etc/hitship.yaml`,
      `data_dir: /var/lib/hitship
shutdown_timeout: 3s
outputs:
  - name: archive
    type: minio-hitlogs
    endpoint: ${Deno.env.get("S3_TLS_ENDPOINT")}
    bucket: ${bucket}
    access_key: "${s3.accessKey}"
    secret_key: "\${S3_SECRET}"
`,
    );
    const env = [
      "-e",
      "NODE_EXTRA_CA_CERTS=/etc/hitship/private-ca.pem",
      "-e",
      `S3_SECRET=${s3.secretKey}`,
    ];
    const validate = await podman([
      "run",
      "--rm",
      ...env,
      ...args,
      IMAGE,
      "validate",
      "--config",
      "/etc/hitship/hitship.yaml",
    ]);
    assert.equal(validate.code, 0, validate.stderr);
    assert.match(validate.stdout, /valid; input stdin; outputs: archive \(minio-hitlogs\)/);
    const test = await podman([
      "run",
      "--rm",
      "--network=host",
      ...env,
      ...args,
      IMAGE,
      "test",
      "--config",
      "/etc/hitship/hitship.yaml",
    ]);
    assert.equal(test.code, 0, test.stdout + test.stderr);
    const hits = hitLines(30);
    const run = await podman(
      ["run", "--rm", "-i", "--network=host", ...env, ...args, IMAGE],
      { stdin: hits.join("\n") + "\n" },
    );
    // The default command reads the config from /etc/hitship/hitship.yaml and stdin to its end.
    assert.equal(run.code, 0, run.stderr);
    const keys = await awsList(bucket);
    assert.ok(keys.some((key) => key.startsWith("hitlogs-")), keys.join(", "));
    const untrusted = await podman(
      ["run", "--rm", "-i", "--network=host", "-e", `S3_SECRET=${s3.secretKey}`, ...args, IMAGE],
      { stdin: hits.join("\n") + "\n" },
    );
    assert.notEqual(untrusted.code, 0, "without the private CA the server is not trusted");
    await Deno.remove(dir, { recursive: true });
  },
);

/**
 * Shapes the pod's emptyDir volumes as a kubelet shapes them for `fsGroup`: owned by that group,
 * group-writable, setgid. podman 4.3 plays an emptyDir as a named volume, fills it from the
 * image's directory at first mount (root's, here) and does not apply `fsGroup`: so this runs once
 * the pod is up, and the node stand-in writes each line again until it may.
 */
async function fsGroupShape(names: string[], fsGroup: number): Promise<void> {
  for (const name of names) {
    const path = (await podman(["volume", "inspect", "--format", "{{.Mountpoint}}", name])).stdout
      .trim();
    await Deno.chown(path, 0, fsGroup);
    await Deno.chmod(path, 0o2775);
  }
}

/** Removes volumes; a named volume outlives its pod, where an emptyDir does not. */
async function removeVolumes(names: string[]): Promise<void> {
  for (const name of names) await podman(["volume", "rm", "-f", name]);
}

Deno.test(
  needsImage(
    "Kubernetes, played: podman kube play of deploy/kubernetes (the node stand-in writing hits into the shared emptyDir, hitship as its sidecar) delivers every hit; the probes answer; kube down drains",
  ),
  async () => {
    await build();
    const { parse, parseAllDocuments, stringify } = await import("yaml");
    const { newBucket, s3Env, awsList, minioGet } = await import("./s3.ts");
    const { startReceiver } = await import("./receiver.ts");
    const { assertEachOnce } = await import("./outputs.ts");
    const s3 = s3Env();
    const bucket = await newBucket("kube");
    await using trigger = await startReceiver();
    const port = freePort();
    const docs = async (file: string) =>
      parseAllDocuments(await Deno.readTextFile(`${root}deploy/kubernetes/${file}`)).map((d) =>
        d.toJS()
      );
    const [configMap] = await docs("configmap.yaml");
    const [secret] = await docs("secret.yaml");
    const [deployment] = await docs("deployment.yaml");
    // The example as shipped, but for: its places here (the pod shares the host's network, where
    // the S3 server and the trigger listen on loopback), the images here, and a node stand-in that
    // writes 300 hits into the shared hit log.
    const config = parse(configMap.data["hitship.yaml"]);
    config.outputs[0].bucket = bucket;
    config.http.listen = `127.0.0.1:${port}`; // /health, /ready and /metrics from here
    configMap.data["hitship.yaml"] = stringify(config);
    // The shipped Secret's keys, with the values here.
    const secretValues = {
      MINIO_ENDPOINT: s3.endpoint,
      MINIO_ACCESS_KEY: s3.accessKey,
      MINIO_SECRET_KEY: s3.secretKey,
      INSIGHTCONNECT_API_URL: trigger.url,
      INSIGHTCONNECT_API_KEY: trigger.key,
    };
    assert.deepEqual(Object.keys(secret.stringData).sort(), Object.keys(secretValues).sort());
    const hits = hitLines(300);
    const dir = await Deno.makeTempDir({ prefix: "hitship-kube-" });
    await Deno.writeTextFile(`${dir}/hits.ndjson`, hits.join("\n") + "\n");
    await Deno.chmod(dir, 0o755);
    const pod = deployment.spec.template.spec;
    const node = pod.containers.find((c: { name: string }) => c.name === "wallarm-node");
    node.image = BASE;
    node.command = [
      "sh",
      "-c",
      'trap "exit 0" TERM; while read -r line; do until echo "$line" 2>/dev/null >> /var/log/wallarm/hits.ndjson; do sleep 0.2; done; done < /hits/hits.ndjson; sleep 3600 & wait',
    ];
    node.volumeMounts.push({ name: "hits", mountPath: "/hits", readOnly: true });
    pod.volumes.push({ name: "hits", hostPath: { path: dir, type: "Directory" } });
    const hitship = pod.containers.find((c: { name: string }) => c.name === "hitship");
    hitship.image = IMAGE;
    pod.hostNetwork = true;
    // On the host's network a port is not mapped: the probes name the port hitship listens on.
    delete hitship.ports;
    hitship.livenessProbe.httpGet.port = port;
    hitship.readinessProbe.httpGet.port = port;
    const played = `${dir}/kube.yaml`;
    await Deno.writeTextFile(
      played,
      [configMap, deployment].map((o) => stringify(o)).join("---\n"),
    );
    await podman(["kube", "down", played]);
    const volumes = pod.volumes.filter((v: { emptyDir?: unknown }) => v.emptyDir).map((
      v: { name: string },
    ) => v.name);
    await removeVolumes([...volumes, configMap.metadata.name]);
    // podman 4.3 keeps a Secret of the played YAML as its YAML text, then reads it as JSON (and
    // fails): the Secret is made beforehand as a podman secret, the rest played.
    await podSecret(secret.metadata.name, dir, secretValues);
    const up = await podman(["kube", "play", played]);
    try {
      assert.equal(up.code, 0, up.stdout + up.stderr);
      await fsGroupShape(
        node.volumeMounts.filter((m: { name: string }) => volumes.includes(m.name)).map((
          m: { name: string },
        ) => m.name),
        pod.securityContext.fsGroup,
      );
      await until("hitship answers /health", async () => {
        try {
          const response = await fetch(`http://127.0.0.1:${port}/health`);
          await response.body?.cancel();
          return response.ok;
        } catch {
          return false;
        }
      });
      await until("hitship has read the 300 hits", async () => {
        try {
          const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
          return /hitship_input_hits_total\{[^}]*\} 300\b/.test(metrics);
        } catch {
          return false;
        }
      });
      const ready = await fetch(`http://127.0.0.1:${port}/ready`);
      await ready.body?.cancel();
      assert.equal(ready.status, 200);
    } catch (error) {
      const logs = await podman(["logs", "wallarm-node-pod-0-hitship"]);
      await podman(["kube", "down", played]);
      await removeVolumes([...volumes, configMap.metadata.name]);
      await podman(["secret", "rm", "hitship-secrets"]);
      throw new Error(`${(error as Error).message}\nhitship's log: ${logs.stdout}${logs.stderr}`);
    }
    // SIGTERM to the pod, with the example's grace period: hitship drains (the archive's 10-minute
    // window is uploaded at once), then the pod goes.
    const stopped = await podman([
      "pod",
      "stop",
      "-t",
      String(deployment.spec.template.spec.terminationGracePeriodSeconds),
      "wallarm-node-pod-0",
    ]);
    assert.equal(stopped.code, 0, stopped.stderr);
    const log = await podman(["logs", "wallarm-node-pod-0-hitship"]);
    const exit =
      (await podman(["inspect", "--format", "{{.State.ExitCode}}", "wallarm-node-pod-0-hitship"]))
        .stdout.trim();
    const down = await podman(["kube", "down", played]);
    assert.equal(down.code, 0, down.stderr);
    await removeVolumes([...volumes, configMap.metadata.name]);
    assert.equal(exit, "0", log.stdout + log.stderr);
    await podman(["secret", "rm", "hitship-secrets"]);
    const archived: unknown[] = [];
    for (const key of await awsList(bucket)) {
      archived.push(...JSON.parse(new TextDecoder().decode(await minioGet(bucket, key))));
    }
    assert.equal(archived.length, 300, log.stdout + log.stderr);
    assertEachOnce(archived, hits);
    const wanted = hits.filter((h) => ["sqli", "rce", "xxe"].includes(JSON.parse(h).attack_type));
    assertEachOnce(trigger.delivered(), wanted);
    await Deno.remove(dir, { recursive: true });
  },
);

/**
 * A podman secret `name` holding `values` the way a played Secret's `data` holds them (base64):
 * podman 4.3 cannot read a played Secret's `stringData`.
 */
async function podSecret(name: string, dir: string, values: Record<string, string>) {
  await podman(["secret", "rm", name]);
  const file = `${dir}/${name}.json`;
  await Deno.writeTextFile(
    file,
    JSON.stringify(Object.fromEntries(Object.entries(values).map(([k, v]) => [k, btoa(v)]))),
  );
  const made = await podman(["secret", "create", name, file]);
  assert.equal(made.code, 0, made.stderr);
}

/**
 * A stand-in for Fluent Bit's image (cr.fluentbit.io/fluent/fluent-bit): the peer binary at the
 * image's place, with the same default command, on the stand-in base. Of its libraries, the two
 * that base lacks (libyaml, libsqlite3) come from this host, Debian 12 as the base is.
 */
async function fluentBitImage(): Promise<string> {
  const image = "localhost/fluent-bit-standin:test";
  const dir = await Deno.makeTempDir({ prefix: "fluent-bit-image-" });
  await Deno.copyFile(FLUENT_BIT!, `${dir}/fluent-bit`);
  await Deno.mkdir(`${dir}/lib`);
  const ldd = new TextDecoder().decode(
    (await new Deno.Command("ldd", { args: [FLUENT_BIT!] }).output()).stdout,
  );
  for (const lib of ["libyaml-0.so.2", "libsqlite3.so.0"]) {
    const path = new RegExp(`${lib.replaceAll(".", "\\.")} => (\\S+)`).exec(ldd)?.[1];
    assert.ok(path, `Fluent Bit's ${lib} is on this host`);
    await Deno.copyFile(await Deno.realPath(path), `${dir}/lib/${lib}`);
  }
  await Deno.writeTextFile(
    `${dir}/Containerfile`,
    [
      `FROM ${BASE}`,
      "COPY fluent-bit /fluent-bit/bin/fluent-bit",
      "COPY lib/ /usr/lib/x86_64-linux-gnu/",
      'ENTRYPOINT ["/fluent-bit/bin/fluent-bit"]',
      'CMD ["-c", "/fluent-bit/etc/fluent-bit.conf"]',
    ].join("\n") + "\n",
  );
  const out = await podman([
    "build",
    "--pull=never",
    "-t",
    image,
    "-f",
    `${dir}/Containerfile`,
    dir,
  ]);
  assert.equal(out.code, 0, out.stdout.slice(-2000) + out.stderr.slice(-2000));
  await Deno.remove(dir, { recursive: true });
  return image;
}

function needsImageAndFluentBit(name: string): { name: string; ignore: boolean } {
  const image = needsImage(name);
  const fb = needsFluentBit(image.name);
  return { name: fb.name, ignore: image.ignore || fb.ignore };
}

// Manifests as parsed YAML, edited in place.
// deno-lint-ignore no-explicit-any
type Obj = Record<string, any>;

Deno.test(
  needsImageAndFluentBit(
    "Kubernetes, played: deploy/kubernetes-fluent-bit (hitship's StatefulSet and Fluent Bit's DaemonSet played as Deployments of their pod templates): Fluent Bit tails the hit log and forwards; hitship's pod stopped and started mid-stream; every hit once in S3",
  ),
  async () => {
    await build();
    const fbImage = await fluentBitImage();
    const { parseAllDocuments, stringify } = await import("yaml");
    const { newBucket, s3Env, awsList, minioGet } = await import("./s3.ts");
    const { startReceiver } = await import("./receiver.ts");
    const { assertEachOnce } = await import("./outputs.ts");
    const s3 = s3Env();
    const bucket = await newBucket("kubefb");
    await using trigger = await startReceiver();
    const forwardPort = freePort();
    const httpPort = freePort();
    const key = "played-forward-key-5d1";
    const objects = async (file: string): Promise<Record<string, Obj>> => {
      const all: Record<string, Obj> = {};
      const text = await Deno.readTextFile(`${root}deploy/kubernetes-fluent-bit/${file}`);
      for (const doc of parseAllDocuments(text)) {
        const o = doc.toJS() as Obj;
        all[`${o.kind}/${o.metadata.name}`] = o;
      }
      return all;
    };
    const hs = await objects("hitship.yaml");
    const fb = await objects("fluent-bit.yaml");
    const dir = await Deno.makeTempDir({ prefix: "hitship-kubefb-" });
    await Deno.chmod(dir, 0o755);

    // hitship: the example as shipped, but for its places here (the host's network, where the
    // test servers listen on loopback) and the image built here. The StatefulSet's pod template
    // is played as a Deployment, its volume claim as a PersistentVolumeClaim of the same name.
    const hsConfig = hs["ConfigMap/hitship-config"]!;
    hsConfig.data["hitship.yaml"] = hsConfig.data["hitship.yaml"]
      .replace("listen: 0.0.0.0:24224", `listen: 127.0.0.1:${forwardPort}`)
      .replace("listen: 0.0.0.0:9464", `listen: 127.0.0.1:${httpPort}`)
      .replace("bucket: wallarm-hits", `bucket: ${bucket}`);
    const set = hs["StatefulSet/hitship"]!;
    const claims: Obj[] = set.spec.volumeClaimTemplates.map((t: Obj) => ({
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: t.metadata.name },
      spec: t.spec,
    }));
    const hsPod = set.spec.template.spec;
    for (const claim of claims) {
      hsPod.volumes.push({
        name: claim.metadata.name,
        persistentVolumeClaim: { claimName: claim.metadata.name },
      });
    }
    hsPod.hostNetwork = true;
    const hitship = hsPod.containers[0];
    hitship.image = IMAGE;
    delete hitship.ports;
    hitship.livenessProbe.httpGet.port = httpPort;
    hitship.readinessProbe.httpGet.port = httpPort;
    const hsDeployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: set.metadata,
      spec: { replicas: 1, selector: set.spec.selector, template: set.spec.template },
    };
    const hsPlayed = `${dir}/hitship.yaml`;
    await Deno.writeTextFile(
      hsPlayed,
      [hsConfig, ...claims, hsDeployment].map((o) => stringify(o)).join("---\n"),
    );

    // Fluent Bit: its config as shipped but for hitship's address; the DaemonSet's pod template
    // played as a Deployment, with the stand-in image and its hostPaths under a directory here.
    const fbConfig = fb["ConfigMap/fluent-bit-config"]!;
    fbConfig.data["fluent-bit.conf"] = fbConfig.data["fluent-bit.conf"]
      .replace("hitship.wallarm.svc.cluster.local", "127.0.0.1")
      .replace(/Port(\s+)24224/, `Port$1${forwardPort}`);
    const daemonSet = fb["DaemonSet/fluent-bit"]!;
    const fbPod = daemonSet.spec.template.spec;
    fbPod.hostNetwork = true;
    fbPod.containers[0].image = fbImage;
    // podman 4.3 has no node to name: the downward API's spec.nodeName becomes a plain value.
    for (const env of fbPod.containers[0].env ?? []) {
      if (env.valueFrom?.fieldRef?.fieldPath === "spec.nodeName") {
        delete env.valueFrom;
        env.value = "node-1";
      }
    }
    const hostPaths: Record<string, string> = {};
    for (const volume of fbPod.volumes) {
      if (!volume.hostPath) continue;
      hostPaths[volume.hostPath.path] = `${dir}${volume.hostPath.path}`;
      volume.hostPath.path = `${dir}${volume.hostPath.path}`;
      await Deno.mkdir(volume.hostPath.path, { recursive: true });
    }
    const hitLog = `${hostPaths["/var/log/wallarm"]}/hits.ndjson`;
    const fbDeployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: daemonSet.metadata,
      spec: { replicas: 1, selector: daemonSet.spec.selector, template: daemonSet.spec.template },
    };
    const fbPlayed = `${dir}/fluent-bit.yaml`;
    await Deno.writeTextFile(
      fbPlayed,
      [fbConfig, fbDeployment].map((o) => stringify(o)).join("---\n"),
    );

    const volumeNames = [
      hsConfig.metadata.name,
      fbConfig.metadata.name,
      ...claims.map((c) => c.metadata.name),
      ...hsPod.volumes.filter((v: Obj) => v.emptyDir).map((v: Obj) => v.name),
    ];
    const down = async () => {
      const results = [
        await podman(["kube", "down", fbPlayed]),
        await podman(["kube", "down", hsPlayed]),
      ];
      await removeVolumes(volumeNames);
      for (const name of ["hitship-secrets", "fluent-bit-hitship"]) {
        await podman(["secret", "rm", name]);
      }
      return results;
    };
    await down();
    // The shipped Secrets' keys, with the values here, as podman secrets.
    const secrets: Record<string, Record<string, string>> = {
      "Secret/hitship-secrets": {
        HITSHIP_FORWARD_KEY: key,
        MINIO_ENDPOINT: s3.endpoint,
        MINIO_ACCESS_KEY: s3.accessKey,
        MINIO_SECRET_KEY: s3.secretKey,
        INSIGHTCONNECT_API_URL: trigger.url,
        INSIGHTCONNECT_API_KEY: trigger.key,
      },
      "Secret/fluent-bit-hitship": { HITSHIP_FORWARD_KEY: key },
    };
    for (const [id, values] of Object.entries(secrets)) {
      const shipped = hs[id] ?? fb[id];
      assert.deepEqual(Object.keys(shipped!.stringData).sort(), Object.keys(values).sort(), id);
      await podSecret(shipped!.metadata.name, dir, values);
    }

    const hits = hitLines(400);
    await Deno.writeTextFile(hitLog, hits.slice(0, 200).join("\n") + "\n");
    const hsPodName = "hitship-pod-0";
    const fbPodName = "fluent-bit-pod-0";
    const logs = async () =>
      [
        `hitship: ${JSON.stringify(await podman(["logs", `${hsPodName}-hitship`]))}`,
        `Fluent Bit: ${JSON.stringify(await podman(["logs", `${fbPodName}-fluent-bit`]))}`,
      ].join("\n");
    const metrics = async () => {
      try {
        return await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      } catch {
        return "";
      }
    };
    const journaled = async () =>
      Number(/^hitship_input_hits_total\{[^}]*\} (\d+)$/m.exec(await metrics())?.[1] ?? -1);
    const grace = String(hsPod.terminationGracePeriodSeconds);
    try {
      const up = await podman(["kube", "play", hsPlayed]);
      assert.equal(up.code, 0, up.stdout + up.stderr);
      await until("hitship is ready", async () => /^hitship_ready 1$/m.test(await metrics()));
      const fbUp = await podman(["kube", "play", fbPlayed]);
      assert.equal(fbUp.code, 0, fbUp.stdout + fbUp.stderr);
      await until(
        "hitship has journaled the first 200 hits",
        async () => await journaled() === 200,
      );
      // hitship's pod stops and starts again while the node goes on writing: Fluent Bit keeps
      // what it could not deliver and sends it when hitship is back; the journal on the volume
      // claim outlives the container. (Prometheus counters start again at 0.)
      const paused = await podman(["pod", "stop", "-t", grace, hsPodName]);
      assert.equal(paused.code, 0, paused.stderr);
      await Deno.writeTextFile(hitLog, hits.slice(200).join("\n") + "\n", { append: true });
      await until(
        "Fluent Bit finds hitship gone and keeps the chunk for a retry",
        async () =>
          /failed to flush chunk/.test((await podman(["logs", `${fbPodName}-fluent-bit`])).stderr),
      );
      const again = await podman(["pod", "start", hsPodName]);
      assert.equal(again.code, 0, again.stderr);
      await until("hitship has journaled the other 200 hits", async () => await journaled() >= 200);
    } catch (error) {
      const told = await logs();
      await down();
      throw new Error(`${(error as Error).message}\n${told}`);
    }
    // Fluent Bit goes first, then hitship's pod stops with its grace period: it drains.
    await podman(["pod", "stop", "-t", "10", fbPodName]);
    const stopped = await podman(["pod", "stop", "-t", grace, hsPodName]);
    assert.equal(stopped.code, 0, stopped.stderr);
    const exit =
      (await podman(["inspect", "--format", "{{.State.ExitCode}}", `${hsPodName}-hitship`]))
        .stdout.trim();
    const told = await logs();
    const [fbDown, hsDown] = await down();
    assert.equal(fbDown!.code, 0, fbDown!.stderr);
    assert.equal(hsDown!.code, 0, hsDown!.stderr);
    assert.equal(exit, "0", told);
    const archived: Obj[] = [];
    for (const object of await awsList(bucket)) {
      archived.push(...JSON.parse(new TextDecoder().decode(await minioGet(bucket, object))));
    }
    assert.equal(archived.length, 400, told);
    assertEachOnce(archived, hits);
    assert.ok(archived.every((hit) => !("date" in hit)), "no date field added");
    const wanted = hits.filter((h) => ["sqli", "rce", "xxe"].includes(JSON.parse(h).attack_type));
    assertEachOnce(trigger.delivered(), wanted);
    await Deno.remove(dir, { recursive: true });
  },
);
