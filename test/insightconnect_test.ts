/**
 * `insightconnect` end to end: the real CLI posting to a local receiver that behaves like the
 * InsightConnect API trigger.
 */
import assert from "node:assert/strict";
import { OutputHarness } from "../src/testing/mod.ts";
import { insightconnectOutput } from "../plugins/outputs/insightconnect/mod.ts";
import { runCli, spawnCli, until, writeConfig } from "./helpers.ts";
import { makeHit } from "./hits.ts";
import { startReceiver } from "./receiver.ts";

function config(dir: string, outputs: string, top = "") {
  return `data_dir: ${dir}/data
status_file: ${dir}/status.json
shutdown_timeout: 10s
${top}
outputs:
${outputs}`;
}

const hits = Array.from({ length: 60 }, (_, i) => JSON.stringify(makeHit(i)));

Deno.test("insightconnect: filtered hits arrive intact, one notification per hit, in order", async () => {
  await using receiver = await startReceiver();
  const dir = await Deno.makeTempDir();
  const path = await writeConfig(
    dir,
    config(
      dir,
      `  - name: soar
    type: insightconnect
    api_url: ${receiver.url}
    api_key: \${IC_KEY}
    client_name: node-eu-1
    filter: { attack_type: [sqli, rce] }
    max_hits_per_request: 1
`,
    ),
  );
  const run = await runCli(["run", "--config", path], {
    stdin: hits.join("\n") + "\n",
    env: { IC_KEY: receiver.key },
  });
  assert.equal(run.code, 0, run.stderr);
  const expected = hits.filter((h) => ["sqli", "rce"].includes(JSON.parse(h).attack_type));
  assert.ok(expected.length > 5);
  assert.equal(receiver.requests.length, expected.length);
  receiver.requests.forEach((request, i) => {
    assert.equal(request.apiKey, receiver.key);
    assert.equal(request.contentType, "application/json");
    assert.equal(request.body.summary, "[Wallarm] New hit detected");
    const hit = JSON.parse(expected[i]!);
    assert.equal(
      request.body.description,
      `${hit.attack_type} attack on ${hit.domain}: ${hit.method} ${hit.uri} from ${hit.ip} (${hit.block_status})`,
    );
    assert.equal(request.body.details.client_name, "node-eu-1");
    assert.equal(request.body.details.notification_type, "new_hits");
    assert.deepEqual(request.body.details.hit, hit);
    assert.ok(request.text.includes(expected[i]!), "the hit goes in exactly as read");
  });
  const status = JSON.parse(await Deno.readTextFile(`${dir}/status.json`));
  assert.equal(status.outputs.soar.delivered_hits, expected.length);
});

Deno.test("insightconnect: max_hits_per_request groups hits in details.hits (async trigger URL)", async () => {
  await using receiver = await startReceiver();
  const dir = await Deno.makeTempDir();
  const path = await writeConfig(
    dir,
    config(
      dir,
      `  - { name: soar, type: insightconnect, api_url: "${receiver.asyncUrl}", api_key: "${receiver.key}", max_hits_per_request: 25 }\n`,
    ),
  );
  const run = await runCli(["run", "--config", path], { stdin: hits.join("\n") + "\n" });
  assert.equal(run.code, 0, run.stderr);
  const sizes = receiver.requests.map((r) => r.body.details.hits.length);
  assert.deepEqual(sizes.reduce((a, b) => a + b, 0), 60);
  assert.ok(sizes.every((n) => n <= 25));
  assert.deepEqual(
    receiver.requests.flatMap((r) => r.body.details.hits),
    hits.map((h) => JSON.parse(h)),
  );
  assert.match(receiver.requests[0]!.body.summary, /^\[Wallarm\] \d+ new hits detected$/);
});

Deno.test("insightconnect: by default a hit goes alone while hitship keeps up, and hits that come while the trigger is slow go together next", async () => {
  await using receiver = await startReceiver();
  let release = () => {};
  const slow = new Promise<void>((resolve) => (release = resolve));
  receiver.behave((_, n) => (n === 1 ? { after: slow } : "accept"));
  const dir = await Deno.makeTempDir();
  const log = `${dir}/hits.ndjson`;
  await Deno.writeTextFile(log, "");
  const path = await writeConfig(
    dir,
    `data_dir: ${dir}/data
status_file: ${dir}/status.json
input: { type: file, path: ${log}, poll_interval: 10ms }
outputs:
  - { name: soar, type: insightconnect, api_url: "${receiver.url}", api_key: "${receiver.key}" }
`,
  );
  const child = spawnCli(["run", "--config", path]);
  child.stdin.close();
  const status = async () =>
    JSON.parse(await Deno.readTextFile(`${dir}/status.json`).catch(() => "{}"));
  await Deno.writeTextFile(log, hits[0] + "\n", { append: true });
  await until("the first hit sent", () => receiver.requests.length === 1);
  await Deno.writeTextFile(log, hits[1] + "\n", { append: true });
  await until("the second hit out", () => receiver.requests.length === 2);
  // While the trigger holds the second, 58 more hits come and are journaled.
  await Deno.writeTextFile(log, hits.slice(2).join("\n") + "\n", { append: true });
  await until("58 more journaled", async () => (await status()).input?.hits === 60);
  assert.equal(receiver.requests.length, 2, "one request at a time");
  release();
  await until("all delivered", async () => (await status()).outputs?.soar?.delivered_hits === 60);
  child.kill("SIGTERM");
  assert.equal((await child.output()).code, 0);
  const bodies = receiver.requests.map((r) => r.body.details);
  assert.deepEqual(bodies.map((d) => (d.hits ? d.hits.length : d.hit ? 1 : 0)), [1, 1, 58]);
  assert.deepEqual(bodies[0].hit, JSON.parse(hits[0]!));
  assert.deepEqual(bodies.flatMap((d) => d.hits ?? [d.hit]), hits.map((h) => JSON.parse(h)));
});

Deno.test("insightconnect: a receiver that hangs past the timeout or resets is retried; nothing lost", async () => {
  await using receiver = await startReceiver();
  receiver.behave((_, n) => (n === 0 ? "hang" : n === 2 ? "reset" : n === 4 ? "error" : "accept"));
  const dir = await Deno.makeTempDir();
  const path = await writeConfig(
    dir,
    config(
      dir,
      `  - name: soar
    type: insightconnect
    api_url: ${receiver.url}
    api_key: ${receiver.key}
    timeout: 300ms
    retry: { cycles: [[50ms]], then_every: 50ms }
    max_hits_per_request: 1
`,
    ),
  );
  const run = await runCli(["run", "--config", path], {
    stdin: hits.slice(0, 5).join("\n") + "\n",
  });
  assert.equal(run.code, 0, run.stderr);
  const delivered = receiver.requests.filter((r) => r.answered === 202);
  assert.deepEqual(
    delivered.map((r) => r.body.details.hit),
    hits.slice(0, 5).map((h) => JSON.parse(h)),
  );
  assert.equal(delivered.length, 5, "each hit accepted once");
  assert.equal(receiver.requests.length, 8, "5 hits + the hang, the reset and the 500");
  assert.match(run.stderr, /No answer from the API trigger within 0\.3s \(timeout\)/);
  assert.match(run.stderr, /HTTP 500 Internal Server Error/);
  const status = JSON.parse(await Deno.readTextFile(`${dir}/status.json`));
  // A reset of a reused keep-alive connection is retried once by the HTTP client itself before
  // the engine sees it, so it may not count as a failed request.
  assert.ok(status.outputs.soar.failed_requests >= 2);
  assert.equal(status.outputs.soar.requests, 5 + status.outputs.soar.failed_requests);
  assert.equal(status.outputs.soar.state, "active");
});

Deno.test("hitship test: a working receiver gets a [Test message] per event type; a wrong key exits 1 with 401", async () => {
  await using receiver = await startReceiver();
  const dir = await Deno.makeTempDir();
  const outputs = (key: string) =>
    `  - { name: soar, type: insightconnect, api_url: "${receiver.url}", api_key: "${key}", events: [hits, system, alerts, report] }\n`;
  const good = await writeConfig(dir, config(dir, outputs(receiver.key)));
  const ok = await runCli(["test", "--config", good]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(
    ok.stdout,
    /^soar \(insightconnect\): ok HTTP 202 in \d+ ms: sent hits, system, alerts, report\n$/,
  );
  assert.deepEqual(
    receiver.requests.map((
      r,
    ) => [r.body.summary.startsWith("[Test message] "), r.body.details.notification_type]),
    [[true, "new_hits"], [true, "integration_broken"], [true, "hits_threshold_exceeded"], [
      true,
      "hourly_report",
    ]],
  );
  assert.equal(receiver.requests[0]!.body.summary, "[Test message] [Wallarm] New hit detected");

  const wrongKey = "wrong-key-39fk2";
  const bad = await writeConfig(dir, config(dir, outputs(wrongKey)), "bad.yaml");
  const failed = await runCli(["test", "--config", bad]);
  assert.equal(failed.code, 1);
  assert.match(
    failed.stdout,
    /soar \(insightconnect\): FAILED HTTP 401 in \d+ ms: hits test message: HTTP 401 Unauthorized: the API key was rejected \(check api_key\)/,
  );
  assert.ok(!failed.stdout.includes(wrongKey) && !failed.stderr.includes(wrongKey));
});

Deno.test("insightconnect under the engine: a receiver that always answers 500 gets the node's schedule, 1, 3, 5, 10, 10, 0, 1, 3, 5, 30 s, 1, 1, 3, 5, 10 min apart (virtual time)", async () => {
  await using receiver = await startReceiver();
  receiver.behave(() => "error");
  const harness = await OutputHarness.start(insightconnectOutput, {
    api_url: receiver.url,
    api_key: receiver.key,
  }, { autoDisable: { min_requests: 1000 } });
  await harness.send([hits[0]!]);
  await harness.settle(() => harness.requests.length >= 16);
  await harness.close(0);
  const at = harness.requests.slice(0, 16).map((r) => r.at);
  const gaps = at.slice(1).map((t, i) => (t - at[i]!) / 1000);
  assert.deepEqual(gaps, [1, 3, 5, 10, 10, 0, 1, 3, 5, 30, 60, 60, 180, 300, 600]);
  assert.ok(harness.requests.every((r) => !r.result.ok && r.result.status === 500));
  assert.ok(receiver.requests.length >= 16, "each one reached the receiver");
  assert.equal(harness.status.failed_requests, harness.status.requests);
});

Deno.test("run: with a fast schedule and min_requests: 5 an output is auto-disabled and another hears integration_broken", async () => {
  await using failing = await startReceiver();
  failing.behave(() => "error");
  await using other = await startReceiver();
  const dir = await Deno.makeTempDir();
  const path = await writeConfig(
    dir,
    config(
      dir,
      `  - name: soar
    type: insightconnect
    api_url: ${failing.url}
    api_key: ${failing.key}
    events: [hits]
    retry: { cycles: [[50ms]], then_every: 50ms }
    auto_disable: { min_requests: 5 }
  - { name: ops, type: insightconnect, api_url: "${other.url}", api_key: "${other.key}", events: [system] }
`,
    ),
  );
  const run = await runCli(["run", "--config", path], { stdin: hits[0] + "\n" });
  assert.equal(run.code, 1, "the auto-disabled output still holds its hit");
  assert.equal(failing.requests.length, 5);
  assert.equal(other.requests.length, 1);
  const event = other.requests[0]!.body;
  assert.equal(event.details.notification_type, "integration_broken");
  assert.equal(event.details.integration, "soar");
  assert.equal(event.details.type, "insightconnect");
  assert.equal(event.details.failure_ratio, 1);
  assert.match(event.details.last_error, /HTTP 500/);
  const status = JSON.parse(await Deno.readTextFile(`${dir}/status.json`));
  assert.equal(status.outputs.soar.state, "auto_disabled");
  assert.equal(status.outputs.soar.pending_hits, 1);
  const shown = await runCli(["status", "--status-file", `${dir}/status.json`]);
  assert.equal(shown.code, 0);
  assert.match(
    shown.stdout,
    /soar\s+insightconnect\s+auto_disabled\s+0\s+1\s+\d+s\s+5\s+5\s+1\.00/,
  );
  assert.match(shown.stdout, /ops\s+insightconnect\s+active/);
});

Deno.test("insightconnect: a redirect to another origin is a failed request; the key and the hits never go there", async () => {
  await using receiver = await startReceiver();
  await using elsewhere = await startReceiver(); // another origin: another port
  receiver.behave(() => ({ redirect: elsewhere.url }));
  const dir = await Deno.makeTempDir();
  const path = await writeConfig(
    dir,
    config(
      dir,
      `  - name: soar
    type: insightconnect
    api_url: ${receiver.url}
    api_key: ${receiver.key}
    retry: { cycles: [[50ms]], then_every: 50ms }
    auto_disable: { min_requests: 3 }
`,
    ),
  );
  const test = await runCli(["test", "--config", path]);
  assert.equal(test.code, 1, test.stdout);
  assert.match(
    test.stdout,
    new RegExp(
      `soar \\(insightconnect\\): FAILED HTTP 307 in \\d+ ms: hits test message: HTTP 307 Temporary Redirect: the API trigger redirects to "${elsewhere.url}", which is not followed`,
    ),
  );
  const run = await runCli(["run", "--config", path], {
    stdin: hits.slice(0, 2).join("\n") + "\n",
  });
  assert.equal(run.code, 1, "auto-disabled, the hits stay in the journal");
  assert.equal(elsewhere.requests.length, 0, "nothing reached the other origin");
  assert.ok(receiver.requests.length >= 4);
  const status = JSON.parse(await Deno.readTextFile(`${dir}/status.json`));
  assert.match(status.outputs.soar.last_error, /redirects to/);
  assert.ok(!JSON.stringify(status).includes(receiver.key), "no key in the status file");
});
