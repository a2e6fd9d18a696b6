/**
 * `minio-hitlogs` against a real S3 server (Ceph radosgw on 127.0.0.1), read back with the minio
 * client and with Debian's awscli.
 */
import assert from "node:assert/strict";
import { exportOrder, logRecords, runCli, spawnCli, writeConfig } from "./helpers.ts";
import { makeHit, mixedInput } from "./hits.ts";
import {
  awsGet,
  awsList,
  gunzip,
  minioGet,
  newBucket,
  s3Client,
  s3Env,
  startPrivateS3,
} from "./s3.ts";

const dec = new TextDecoder();

function minioConfig(dir: string, bucket: string, extra = "", endpoint = s3Env().endpoint) {
  return `data_dir: ${dir}/data
status_file: ${dir}/status.json
shutdown_timeout: 5s
outputs:
  - name: archive
    type: minio-hitlogs
    endpoint: ${endpoint}
    bucket: ${bucket}
    access_key: \${TEST_ACCESS_KEY}
    secret_key: \${TEST_SECRET_KEY}
${extra.split("\n").filter((l) => l).map((l) => `    ${l}`).join("\n")}
`;
}

function keysEnv(secret = s3Env().secretKey, access = s3Env().accessKey) {
  return { TEST_ACCESS_KEY: access, TEST_SECRET_KEY: secret };
}

Deno.test("minio-hitlogs: hits land as JSON arrays equal to the input, read back by minio and awscli", async () => {
  const dir = await Deno.makeTempDir();
  const bucket = await newBucket();
  const config = await writeConfig(dir, minioConfig(dir, bucket, "max_hits: 400"));
  const { text, hits } = mixedInput(1000, 10);
  const run = await runCli(["run", "--config", config], { stdin: text, env: keysEnv() });
  assert.equal(run.code, 0, run.stderr);

  const keys = exportOrder(await awsList(bucket));
  assert.equal(keys.length, 3);
  for (const key of keys) assert.match(key, /^hitlogs-\d+(-\d+)?\.json$/);
  const viaAws: unknown[] = [];
  const viaMinio: unknown[] = [];
  for (const key of keys) {
    viaAws.push(...JSON.parse(dec.decode(await awsGet(bucket, key))));
    viaMinio.push(...JSON.parse(dec.decode(await minioGet(bucket, key))));
  }
  const expected = hits.map((h) => JSON.parse(h));
  assert.deepEqual(viaAws, expected);
  assert.deepEqual(viaMinio, expected);
  const stat = await s3Client().statObject(bucket, keys[0]!);
  assert.equal(stat.metaData["content-type"], "application/json");

  const status = JSON.parse(await Deno.readTextFile(`${dir}/status.json`));
  assert.equal(status.outputs.archive.delivered_hits, 1000);
  assert.equal(status.outputs.archive.requests, 3);
  assert.equal(status.input.rejected, 10);
});

Deno.test("minio-hitlogs: gzip and jsonl objects read back to the same hits", async () => {
  const dir = await Deno.makeTempDir();
  const bucket = await newBucket();
  const config = await writeConfig(
    dir,
    minioConfig(
      dir,
      bucket,
      'format: jsonl\ncompression: gzip\nkey: "{hostname}/{date}/hitlogs-{timestamp}.json"',
    ),
  );
  const { text, hits } = mixedInput(300, 0);
  const run = await runCli(["run", "--config", config], { stdin: text, env: keysEnv() });
  assert.equal(run.code, 0, run.stderr);
  const [key, ...more] = await awsList(bucket);
  assert.deepEqual(more, []);
  assert.match(
    key!,
    new RegExp(`^${Deno.hostname()}/\\d{4}/\\d{2}/\\d{2}/hitlogs-\\d+\\.jsonl\\.gz$`),
  );
  const body = dec.decode(await gunzip(await awsGet(bucket, key!)));
  assert.equal(body, hits.join("\n") + "\n", "jsonl holds the raw lines");
  const stat = await s3Client().statObject(bucket, key!);
  assert.equal(stat.metaData["content-type"], "application/gzip");
});

/** Writes about `mib` MiB of hits to a file; returns its path and the number of hits. */
async function hitsFile(dir: string, mib: number): Promise<{ path: string; count: number }> {
  const path = `${dir}/hits-${mib}.ndjson`;
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const enc = new TextEncoder();
  let bytes = 0;
  let count = 0;
  while (bytes < mib * 1024 * 1024) {
    const chunk = Array.from({ length: 1000 }, (_, i) => JSON.stringify(makeHit(count + i)))
      .join("\n") + "\n";
    await file.write(enc.encode(chunk));
    bytes += chunk.length;
    count += 1000;
  }
  file.close();
  return { path, count };
}

/**
 * Runs `hitship run` with a file on stdin (as it ships: its permissions and V8 flags); returns the
 * exit code, stderr and peak RSS.
 */
async function runWithFile(config: string, input: string) {
  const run = await runCli(["run", "--config", config], { stdinFile: input, env: keysEnv() });
  const records = logRecords(run.stderr);
  const stopped = records.find((l) => l.msg === "hitship stopped");
  // A run that could not finish says why in lines that are not JSON: they show in the failure.
  assert.ok(stopped, `no "hitship stopped" line; other lines: ${records.others.join("\n")}`);
  return { ...run, maxRss: stopped.max_rss_bytes as number };
}

Deno.test("minio-hitlogs: a 100 MiB window uploads as multipart; memory does not grow with it", async () => {
  const dir = await Deno.makeTempDir();
  const window = "max_hits: 1000000\nmax_bytes: 1GiB\npart_size: 8MiB";
  const small = { bucket: await newBucket(), input: await hitsFile(dir, 1) };
  const large = { bucket: await newBucket(), input: await hitsFile(dir, 100) };
  const runs = [];
  for (const [name, { bucket, input }] of Object.entries({ small, large })) {
    await Deno.mkdir(`${dir}/${name}`);
    const config = await writeConfig(
      `${dir}/${name}`,
      minioConfig(`${dir}/${name}`, bucket, window) + "max_journal_bytes: 2GiB\n",
    );
    const run = await runWithFile(config, input.path);
    assert.equal(run.code, 0, run.stderr);
    runs.push(run);
  }
  const [key, ...more] = await awsList(large.bucket);
  assert.deepEqual(more, []);
  const stat = await s3Client().statObject(large.bucket, key!);
  assert.ok(stat.size > 100 * 1024 * 1024, `size ${stat.size}`);
  const parts = Number(/-(\d+)$/.exec(stat.etag)?.[1]);
  assert.ok(parts >= 12, `a multipart ETag ends in -PARTS (13 parts of 8 MiB): ${stat.etag}`);
  // The 100 MiB window costs little more memory than a 1 MiB one: it streams a part at a time.
  const [smallRss, largeRss] = runs.map((r) => r.maxRss / 1024 / 1024);
  console.log(
    `peak RSS: ${smallRss!.toFixed(0)} MiB (1 MiB window), ${
      largeRss!.toFixed(0)
    } MiB (100 MiB window, ${parts} parts)`,
  );
  assert.ok(
    largeRss! - smallRss! < 50,
    `peak RSS ${largeRss!.toFixed(0)} MiB for 100 MiB vs ${smallRss!.toFixed(0)} MiB for 1 MiB`,
  );
  // Read back through the minio client: every hit, in order; the 1 MiB window too, a single PUT
  // from a part buffer that grew to hold it.
  for (const { bucket, input } of [large, small]) {
    const [object] = await awsList(bucket);
    const body = JSON.parse(dec.decode(await minioGet(bucket, object!)));
    assert.equal(body.length, input.count);
    assert.deepEqual(body[0], makeHit(0));
    assert.deepEqual(body[input.count - 1], makeHit(input.count - 1));
  }
});

Deno.test("minio-hitlogs: a wrong secret gives a 403 that the status file and log report, never the secret", async () => {
  const dir = await Deno.makeTempDir();
  const bucket = await newBucket();
  const wrong = "wrong-secret-Zq81xT2pLmV0";
  const config = await writeConfig(
    dir,
    minioConfig(dir, bucket, "retry: { cycles: [[100ms]], then_every: 100ms }"),
  );
  const { text } = mixedInput(5, 0);
  const run = await runCli(["run", "--config", config], { stdin: text, env: keysEnv(wrong) });
  assert.equal(run.code, 1, "undelivered hits make run exit 1");
  assert.match(run.stderr, /403 SignatureDoesNotMatch/);
  assert.match(
    run.stderr,
    /hitship: output "archive" is auto-disabled after failed requests; its 5 undelivered hits stay in the journal/,
  );
  const statusText = await Deno.readTextFile(`${dir}/status.json`);
  const status = JSON.parse(statusText);
  assert.match(
    status.outputs.archive.last_error,
    /Cannot upload object "hitlogs-\d+\.json" to bucket "[^"]+" at http:\/\/127\.0\.0\.1:\d+: 403 SignatureDoesNotMatch/,
  );
  for (const text of [run.stderr, run.stdout, statusText]) {
    assert.ok(!text.includes(wrong), "the secret never appears");
    assert.ok(!text.includes(s3Env().secretKey));
  }
  assert.deepEqual(await awsList(bucket), []);

  // The hits stayed in the journal: once enabled, with the right secret, the next run delivers them.
  const enable = await runCli(["enable", "archive", "--config", config], { env: keysEnv() });
  assert.equal(enable.code, 0, enable.stderr);
  assert.equal(enable.stdout, 'Output "archive" enabled (was auto-disabled)\n');
  const again = await runCli(["run", "--config", config], { stdin: "", env: keysEnv() });
  assert.equal(again.code, 0, again.stderr);
  const keys = await awsList(bucket);
  assert.equal(keys.length, 1);
  assert.equal(JSON.parse(dec.decode(await awsGet(bucket, keys[0]!))).length, 5);
});

Deno.test("minio-hitlogs: a missing bucket says so; create_bucket: true creates it", async () => {
  const dir = await Deno.makeTempDir();
  const bucket = `missing-${Date.now().toString(36)}-${Deno.pid}`;
  const retry = "retry: { cycles: [[100ms]], then_every: 100ms }";
  const config = await writeConfig(dir, minioConfig(dir, bucket, retry));
  const { text, hits } = mixedInput(3, 0);
  const run = await runCli(["run", "--config", config], { stdin: text, env: keysEnv() });
  assert.equal(run.code, 1);
  assert.ok(
    run.stderr.includes(
      `bucket \\"${bucket}\\" does not exist (404 NoSuchBucket); create it or set create_bucket: true`,
    ),
    run.stderr,
  );

  const other = await Deno.makeTempDir();
  const created = await writeConfig(other, minioConfig(other, bucket, "create_bucket: true"));
  const again = await runCli(["run", "--config", created], { stdin: text, env: keysEnv() });
  assert.equal(again.code, 0, again.stderr);
  const keys = await awsList(bucket);
  assert.equal(keys.length, 1);
  assert.deepEqual(
    JSON.parse(dec.decode(await awsGet(bucket, keys[0]!))),
    hits.map((h) => JSON.parse(h)),
  );
});

Deno.test("minio-hitlogs: hitship test writes a test object; a wrong key fails with 403", async () => {
  const dir = await Deno.makeTempDir();
  const bucket = await newBucket();
  const config = await writeConfig(dir, minioConfig(dir, bucket));
  const ok = await runCli(["test", "--config", config], { env: keysEnv() });
  assert.equal(ok.code, 0, ok.stderr + ok.stdout);
  assert.match(ok.stdout, /^archive \(minio-hitlogs\): ok HTTP 200 in \d+ ms/);
  const [key] = await awsList(bucket);
  assert.match(key!, /^hitship-test\//);
  assert.match(dec.decode(await awsGet(bucket, key!)), /\[Test message\]/);

  const wrong = "not-the-secret-Q93kd";
  const bad = await runCli(["test", "--config", config], { env: keysEnv(wrong) });
  assert.equal(bad.code, 1);
  assert.match(
    bad.stdout,
    /archive \(minio-hitlogs\): FAILED HTTP 403 in \d+ ms: .*403 SignatureDoesNotMatch/,
  );
  assert.ok(!bad.stdout.includes(wrong) && !bad.stderr.includes(wrong));
});

Deno.test("minio-hitlogs: radosgw stopped mid-run and restarted: every hit arrives exactly once, under the same keys", async () => {
  await using s3 = await startPrivateS3();
  await s3.client.makeBucket("fault", "us-east-1");
  const dir = await Deno.makeTempDir();
  const config = await writeConfig(
    dir,
    minioConfig(
      dir,
      "fault",
      "max_hits: 50\ninterval: 200ms\ntimeout: 2s\nretry: { cycles: [[200ms]], then_every: 200ms }\nauto_disable: { min_requests: 1000 }",
      s3.endpoint,
    ),
  );
  const child = spawnCli(["run", "--config", config], {
    env: keysEnv(s3.secretKey, s3.accessKey),
  });
  const writer = child.stdin.getWriter();
  const enc = new TextEncoder();
  const hits = Array.from({ length: 400 }, (_, i) => JSON.stringify(makeHit(i)));
  const status = async () => {
    try {
      return JSON.parse(await Deno.readTextFile(`${dir}/status.json`));
    } catch {
      return undefined;
    }
  };
  // deno-lint-ignore no-explicit-any
  const until = async (what: string, check: (s: Record<string, any>) => boolean) => {
    for (let i = 0; i < 300; i++) {
      const s = await status();
      if (s && check(s)) return s;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting until ${what}`);
  };
  await writer.write(enc.encode(hits.slice(0, 100).join("\n") + "\n"));
  await until("100 delivered", (s) => s.outputs.archive.delivered_hits === 100);
  await s3.rgw("stop");
  await writer.write(enc.encode(hits.slice(100, 250).join("\n") + "\n"));
  const failing = await until("a failed request", (s) => s.outputs.archive.failed_requests >= 2);
  assert.equal(failing.outputs.archive.state, "retrying");
  assert.match(failing.outputs.archive.last_error, /ECONNREFUSED/);
  const intent = JSON.parse(await Deno.readTextFile(`${dir}/data/outputs/archive.json`)).intent;
  assert.ok(intent, "the failing batch is fixed before its first attempt");
  await s3.rgw("start");
  await writer.write(enc.encode(hits.slice(250).join("\n") + "\n"));
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, dec.decode(out.stderr));

  const keys: string[] = [];
  for await (const item of s3.client.listObjectsV2("fault", "", true)) keys.push(item.name!);
  assert.ok(keys.includes(intent.key), `the retried batch kept its key ${intent.key}`);
  const shipped: string[] = [];
  for (const key of exportOrder(keys)) {
    const stream = await s3.client.getObject("fault", key);
    let body = "";
    for await (const chunk of stream) body += dec.decode(chunk as Uint8Array, { stream: true });
    shipped.push(...JSON.parse(body).map((h: unknown) => JSON.stringify(h)));
  }
  const counts = new Map<string, number>();
  for (const h of shipped) counts.set(h, (counts.get(h) ?? 0) + 1);
  const lost = hits.filter((h) => !counts.has(h)).length;
  const duplicated = [...counts.values()].filter((n) => n > 1).length;
  assert.equal(lost, 0, "no hit lost");
  assert.equal(duplicated, 0, "no hit twice");
  assert.deepEqual(shipped, hits, "in order");
});

Deno.test("minio-hitlogs: https with a custom CA file works; verification is on by default", async () => {
  const tls = Deno.env.get("S3_TLS_ENDPOINT")!;
  const ca = Deno.env.get("S3_CA_FILE")!;
  assert.ok(tls && ca, "the test server has a TLS endpoint");
  const { text, hits } = mixedInput(20, 0);
  // Each run ships into a bucket of its own, so each run's upload is checked by itself.
  const run = async (tlsBlock: string, env: Record<string, string> = {}) => {
    const bucket = await newBucket("tls");
    const dir = await Deno.makeTempDir();
    const config = await writeConfig(
      dir,
      minioConfig(dir, bucket, `${tlsBlock}\nretry: { cycles: [[100ms]], then_every: 100ms }`, tls),
    );
    const result = await runCli(["run", "--config", config], {
      stdin: text,
      env: { ...keysEnv(), ...env },
    });
    return { ...result, bucket };
  };
  const shipped = async (bucket: string) => {
    const keys = await awsList(bucket);
    assert.equal(keys.length, 1, `one object in ${bucket}`);
    assert.deepEqual(
      JSON.parse(dec.decode(await minioGet(bucket, keys[0]!))),
      hits.map((h) => JSON.parse(h)),
    );
  };
  const untrusted = await run("");
  assert.equal(untrusted.code, 1, "a certificate from a CA the system does not know is refused");
  assert.match(untrusted.stderr, /unable to verify the first certificate/);
  assert.deepEqual(await awsList(untrusted.bucket), [], "nothing uploaded unverified");
  const unverified = await run("tls: { verify: false }");
  assert.equal(unverified.code, 0, unverified.stderr);
  await shipped(unverified.bucket);
  const trusted = await run(`tls: { ca_file: "${ca}" }`);
  assert.equal(trusted.code, 0, trusted.stderr);
  await shipped(trusted.bucket);
  // The private CA given the way every TLS client of hitship takes one, besides the system's.
  const extra = await run("", { NODE_EXTRA_CA_CERTS: ca });
  assert.equal(extra.code, 0, extra.stderr);
  await shipped(extra.bucket);
  // An SSL_CERT_FILE that cannot be read is passed over (the image test runs without any bundle).
  const slim = await run("", { NODE_EXTRA_CA_CERTS: ca, SSL_CERT_FILE: "/nonexistent/ca.pem" });
  assert.equal(slim.code, 0, slim.stderr);
  await shipped(slim.bucket);
});

Deno.test("minio-hitlogs: a 5xx answer is reported with its S3 code and message, and retried", async () => {
  const { startFaultProxy } = await import("./s3.ts");
  await using proxy = await startFaultProxy();
  let puts = 0;
  proxy.fail((method) =>
    method === "PUT" && puts++ < 2 ? { status: 500, code: "InternalError" } : undefined
  );
  const bucket = await newBucket("fault");
  const dir = await Deno.makeTempDir();
  const config = await writeConfig(
    dir,
    minioConfig(dir, bucket, "retry: { cycles: [[100ms]], then_every: 100ms }", proxy.endpoint),
  );
  const { text, hits } = mixedInput(20, 0);
  const run = await runCli(["run", "--config", config], { stdin: text, env: keysEnv() });
  assert.equal(run.code, 0, run.stderr);
  const failures = logRecords(run.stderr).filter((l) =>
    l.msg.startsWith('Output "archive" request failed')
  );
  assert.equal(failures.length, 2);
  assert.match(
    failures[0].msg,
    /: 500 InternalError: We encountered an internal error\. Please try again\.$/,
  );
  assert.equal(failures[0].status, 500);
  const [key] = await awsList(bucket);
  assert.deepEqual(
    JSON.parse(dec.decode(await awsGet(bucket, key!))),
    hits.map((h) => JSON.parse(h)),
  );
});
