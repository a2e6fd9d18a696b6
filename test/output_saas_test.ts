/**
 * `datadog` and `sumologic` end to end. Neither service runs here: a local intake checks every
 * header, limit and answer their docs give (Datadog: DD-API-KEY, gzip, at most 1,000 entries and
 * 5 MB a request, 202/400/403/413/429/5xx; Sumo Logic: the source URL, X-Sumo-* headers, at most
 * 1 MB a request).
 */
import assert from "node:assert/strict";
import { type IntakeRequest, startIntake } from "./intake.ts";
import { logRecords, runCli, statusIn, writeConfig } from "./helpers.ts";
import { assertEachOnce, hitLines, oneOutput as config } from "./outputs.ts";

const DD_KEY = "dd-api-key-0123456789abcdef";

/** Datadog's intake as documented: the checks it makes, in the order it makes them. */
function datadogAnswer(request: IntakeRequest) {
  if (request.method !== "POST" || request.path !== "/api/v2/logs") return { status: 404 };
  if (request.headers.get("dd-api-key") !== DD_KEY) {
    return { status: 403, body: { errors: ["Forbidden"] } };
  }
  if (request.text.length > 5_000_000) return { status: 413 };
  let entries: unknown;
  try {
    entries = JSON.parse(request.text);
  } catch {
    return { status: 400, body: { errors: ["Bad Request"] } };
  }
  if (!Array.isArray(entries) || entries.length > 1000) return { status: 400 };
  return { status: 202, body: {} };
}

Deno.test("datadog output: 10,000 hits in requests within Datadog's limits, each hit an entry with its fields", async () => {
  await using intake = await startIntake();
  intake.answer(datadogAnswer);
  const dir = await Deno.makeTempDir();
  const hits = hitLines(10_000);
  const path = await writeConfig(
    dir,
    config(
      dir,
      `
type: datadog
url: ${intake.url}/api/v2/logs
api_key: \${DD_API_KEY}
ddtags: env:test,team:sec
service: waf
hostname: node-1
max_hits: 1000
max_bytes: 5000000
`,
    ),
  );
  const run = await runCli(["run", "--config", path], {
    stdin: hits.join("\n") + "\n",
    env: { DD_API_KEY: DD_KEY },
  });
  assert.equal(run.code, 0, run.stderr);
  assert.ok(intake.requests.every((r) => r.headers.get("content-encoding") === "gzip"));
  assert.ok(intake.requests.every((r) => r.headers.get("content-type") === "application/json"));
  const entries = intake.requests.flatMap((r) => JSON.parse(r.text) as Record<string, unknown>[]);
  assert.ok(intake.requests.every((r) => JSON.parse(r.text).length <= 1000));
  for (const entry of entries.slice(0, 50)) {
    assert.equal(entry.ddsource, "wallarm");
    assert.equal(entry.service, "waf");
    assert.equal(entry.hostname, "node-1");
    assert.equal(entry.ddtags, "env:test,team:sec");
    assert.equal(entry.timestamp, Number(entry.time) * 1000);
    assert.match(entry.message as string, / attack on .*: [A-Z]+ \//);
  }
  const hitsBack = entries.map((entry) => {
    const {
      ddsource: _s,
      service: _v,
      hostname: _h,
      ddtags: _t,
      timestamp: _ts,
      message: _m,
      ...hit
    } = entry;
    return hit;
  });
  assertEachOnce(hitsBack, hits);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("datadog output: a hit over Datadog's 1 MB is refused to the dead-letter file, not cut; the batch around it is delivered", async () => {
  await using intake = await startIntake();
  intake.answer(datadogAnswer);
  const dir = await Deno.makeTempDir();
  const hits = hitLines(3);
  const big = JSON.parse(hits[1]!);
  big.payload = ["A".repeat(1_000_100)];
  hits[1] = JSON.stringify(big);
  const path = await writeConfig(
    dir,
    config(dir, `type: datadog\nurl: ${intake.url}/api/v2/logs\napi_key: ${DD_KEY}`),
  );
  const run = await runCli(["run", "--config", path], { stdin: hits.join("\n") + "\n" });
  assert.equal(run.code, 0, run.stderr);
  const entries = intake.requests.flatMap((r) =>
    JSON.parse(r.text) as Array<{ request_id: string }>
  );
  assert.deepEqual(
    entries.map((e) => e.request_id),
    [hits[0]!, hits[2]!].map((h) => JSON.parse(h).request_id),
  );
  const dead = (await Deno.readTextFile(`${dir}/data/dead-letter.ndjson`)).trim().split("\n")
    .map((line) => JSON.parse(line));
  assert.equal(dead.length, 1);
  assert.equal(dead[0].output, "out");
  assert.match(dead[0].reason, /^\d+ bytes as a record, over the 1000000 Datadog takes; not cut$/);
  assert.equal(dead[0].raw.length, 64 * 1024, "the dead letter keeps the first 64 KiB");
  const status = await statusIn(dir);
  assert.equal(status.outputs.out.delivered_hits, 2);
  assert.equal(status.outputs.out.rejected_hits, 1);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("datadog output: a wrong API key is a clear error and auto-disables it; 5xx and 429 are retried", async () => {
  await using intake = await startIntake();
  let n = 0;
  intake.answer((request) => {
    n++;
    if (n === 1) return { status: 503 };
    if (n === 2) return { status: 429 };
    return datadogAnswer(request);
  });
  const dir = await Deno.makeTempDir();
  const path = await writeConfig(
    dir,
    `data_dir: ${dir}/data
status_file: ${dir}/status.json
shutdown_timeout: 5s
retry: { cycles: [[50ms]], then_every: 50ms }
auto_disable: { min_requests: 4 }
outputs:
  - { name: good, type: datadog, url: "${intake.url}/api/v2/logs", api_key: ${DD_KEY} }
  - { name: wrong, type: datadog, url: "${intake.url}/api/v2/logs", api_key: not-the-key-99 }
`,
  );
  const run = await runCli(["run", "--config", path], { stdin: hitLines(4).join("\n") + "\n" });
  assert.equal(run.code, 1);
  const status = await statusIn(dir);
  assert.equal(status.outputs.good.delivered_hits, 4);
  assert.equal(status.outputs.wrong.state, "auto_disabled");
  assert.equal(
    status.outputs.wrong.last_error,
    'HTTP 403 Forbidden: {"errors":["Forbidden"]} (check api_key and site)',
  );
  assert.ok(logRecords(run.stderr).some((r) => r.msg === 'Output "wrong" auto-disabled'));
  assert.ok(!run.stderr.includes("not-the-key-99"));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sumologic output: hits as lines within 1 MB a request, with the X-Sumo headers; the URL never logged", async () => {
  await using intake = await startIntake();
  const token = "ZaVnC4dhaV2ZXrQ8lVYQ0QZz3jJKH5uRaLyxYF9q";
  intake.answer((request) =>
    request.path === `/receiver/v1/http/${token}` ? { status: 200 } : { status: 401 }
  );
  const dir = await Deno.makeTempDir();
  const hits = hitLines(10_000);
  const path = await writeConfig(
    dir,
    config(
      dir,
      `
type: sumologic
url: \${SUMO_URL}
category: security/waf
source_name: wallarm
fields: { cluster: eu-1, team: sec }
max_hits: 10000
max_bytes: 1000000
`,
    ),
  );
  const run = await runCli(["run", "--config", path], {
    stdin: hits.join("\n") + "\n",
    env: { SUMO_URL: `${intake.url}/receiver/v1/http/${token}` },
  });
  assert.equal(run.code, 0, run.stderr);
  assert.ok(intake.requests.length > 4, `${intake.requests.length} requests`);
  for (const request of intake.requests) {
    assert.ok(request.text.length <= 1_000_000);
    assert.equal(request.headers.get("x-sumo-category"), "security/waf");
    assert.equal(request.headers.get("x-sumo-name"), "wallarm");
    assert.ok(request.headers.get("x-sumo-host"));
    assert.equal(request.headers.get("x-sumo-fields"), "cluster=eu-1,team=sec");
    assert.equal(request.headers.get("content-encoding"), "gzip");
  }
  const lines = intake.requests.flatMap((r) => r.text.split("\n").filter(Boolean));
  assertEachOnce(lines.map((line) => JSON.parse(line)), hits);
  await Deno.remove(dir, { recursive: true });

  // A wrong URL: the error names no token.
  const dir2 = await Deno.makeTempDir();
  const path2 = await writeConfig(
    dir2,
    config(
      dir2,
      `type: sumologic\nurl: ${intake.url}/receiver/v1/http/wrong-token-77`,
      "shutdown_timeout: 1s",
    ),
  );
  const wrong = await runCli(["run", "--config", path2], { stdin: hitLines(1).join("\n") + "\n" });
  assert.equal(wrong.code, 1);
  assert.ok(logRecords(wrong.stderr).some((r) => /request failed: HTTP 401/.test(r.msg)));
  assert.ok(!wrong.stderr.includes("wrong-token-77"));
  await Deno.remove(dir2, { recursive: true });
});
