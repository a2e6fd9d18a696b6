/**
 * The `http` output end to end: the real CLI into Fluent Bit's `http` input (a real HTTP log
 * receiver) for every format, through a restart of the receiver, over TLS; a local intake for what
 * Fluent Bit does not check (credentials, gzip, redirects).
 */
import assert from "node:assert/strict";
import { FluentBit, needsFluentBit } from "./fluent_bit.ts";
import { startIntake } from "./intake.ts";
import {
  logRecords,
  makeTestCertificate,
  runCli,
  statusIn,
  until,
  writeConfig,
} from "./helpers.ts";
import { assertEachOnce, hitLines, oneOutput as config, runThroughRestart } from "./outputs.ts";

for (const format of ["ndjson", "json"] as const) {
  Deno.test(
    needsFluentBit(
      `http output (${format}): 10,000 hits reach Fluent Bit's http input, each once, JSON-equal`,
    ),
    async () => {
      await using fb = await FluentBit.start("http");
      const dir = await Deno.makeTempDir();
      const hits = hitLines(10_000);
      // Fluent Bit takes concatenated objects as application/json (x-ndjson gets 400).
      const path = await writeConfig(
        dir,
        config(
          dir,
          `
type: http
url: http://127.0.0.1:${fb.port}/wallarm.hits
format: ${format}
headers: { Content-Type: application/json, X-Source: wallarm }
max_hits: 500
`,
        ),
      );
      const run = await runCli(["run", "--config", path], { stdin: hits.join("\n") + "\n" });
      assert.equal(run.code, 0, run.stderr);
      await fb.received(10_000);
      assertEachOnce(fb.records, hits);
      const status = await statusIn(dir);
      assert.equal(status.outputs.out.delivered_hits, 10_000);
      assert.equal(status.outputs.out.requests, 20);
      await Deno.remove(dir, { recursive: true });
    },
  );
}

Deno.test(
  needsFluentBit(
    "http output (notification): one request per hit in the node's shape, 10,000 to Fluent Bit",
  ),
  async () => {
    await using fb = await FluentBit.start("http");
    const dir = await Deno.makeTempDir();
    const hits = hitLines(10_000);
    const path = await writeConfig(
      dir,
      config(
        dir,
        `
type: http
url: http://127.0.0.1:${fb.port}/webhook
format: notification
client_name: node-eu-1
`,
      ),
    );
    const run = await runCli(["run", "--config", path], { stdin: hits.join("\n") + "\n" });
    assert.equal(run.code, 0, run.stderr);
    await fb.received(10_000);
    const records = fb.records as Array<
      { summary: string; description: string; details: Record<string, unknown> }
    >;
    for (const record of records) {
      assert.equal(record.summary, "[Wallarm] New hit detected");
      assert.equal(record.details.client_name, "node-eu-1");
      assert.equal(record.details.notification_type, "new_hits");
    }
    assertEachOnce(records.map((record) => record.details.hit), hits);
    const status = await statusIn(dir);
    assert.equal(status.outputs.out.delivered_hits, 10_000);
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test(
  needsFluentBit("http output: Fluent Bit stopped mid-run and started again loses nothing"),
  async () => {
    await using fb = await FluentBit.start("http");
    const dir = await Deno.makeTempDir();
    const hits = hitLines(10_000);
    const path = await writeConfig(
      dir,
      config(
        dir,
        `
type: http
url: http://127.0.0.1:${fb.port}/hits
format: json
max_hits: 200
interval: 100ms
retry: { cycles: [[200ms]], then_every: 200ms }
`,
      ),
    );
    const { code, stderr } = await runThroughRestart(path, hits, fb);
    assert.equal(code, 0, stderr);
    assert.ok(
      logRecords(stderr).some((r) => /request failed: Cannot reach the server/.test(r.msg)),
      "the stop was seen as failed requests",
    );
    await fb.received(10_000);
    // At least once: a request Fluent Bit took as it stopped may come again.
    assertEachOnce(fb.records, hits, false);
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test(
  needsFluentBit("http output over TLS: the CA file verifies Fluent Bit's certificate"),
  async () => {
    const dir = await Deno.makeTempDir();
    const cert = await makeTestCertificate(dir);
    await using fb = await FluentBit.start("http", {
      "tls": "on",
      "tls.verify": "off",
      "tls.crt_file": cert.cert,
      "tls.key_file": cert.key,
    });
    const hits = hitLines(100);
    const path = await writeConfig(
      dir,
      config(
        dir,
        `
type: http
url: https://127.0.0.1:${fb.port}/hits
format: json
tls: { ca_file: ${cert.ca} }
`,
      ),
    );
    const run = await runCli(["run", "--config", path], { stdin: hits.join("\n") + "\n" });
    assert.equal(run.code, 0, run.stderr);
    await fb.received(100);
    assertEachOnce(fb.records, hits);
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test("http output: credentials, headers and gzip arrive as configured; a redirect is not followed", async () => {
  await using intake = await startIntake();
  intake.answer((request) =>
    request.path === "/moved"
      ? { status: 307, headers: { location: "/elsewhere" } }
      : { status: 204 }
  );
  const dir = await Deno.makeTempDir();
  const hits = hitLines(50);
  const path = await writeConfig(
    dir,
    `data_dir: ${dir}/data
status_file: ${dir}/status.json
shutdown_timeout: 2s
outputs:
  - name: basic
    type: http
    url: ${intake.url}/intake?source=waf
    method: PUT
    auth: { type: basic, user: hitship, password: "\${PASSWORD}" }
    headers: { X-Source: wallarm }
    compress: gzip
  - name: moved
    type: http
    url: ${intake.url}/moved
    auth: { type: bearer, token: secret-token-1 }
`,
  );
  const run = await runCli(["run", "--config", path], {
    stdin: hits.join("\n") + "\n",
    env: { PASSWORD: "p@ss:w0rd" },
  });
  assert.equal(run.code, 1, "the redirected output keeps its hits");
  const put = intake.requests.filter((r) => r.path === "/intake");
  assert.equal(put.length, 1, run.stderr);
  assert.equal(put[0]!.method, "PUT");
  assert.equal(put[0]!.query.get("source"), "waf");
  assert.equal(put[0]!.headers.get("authorization"), `Basic ${btoa("hitship:p@ss:w0rd")}`);
  assert.equal(put[0]!.headers.get("x-source"), "wallarm");
  assert.equal(put[0]!.headers.get("content-encoding"), "gzip");
  assert.equal(put[0]!.headers.get("content-type"), "application/x-ndjson");
  assert.deepEqual(put[0]!.text.split("\n").filter(Boolean), hits);
  assert.equal(intake.requests.filter((r) => r.path === "/elsewhere").length, 0);
  const status = await statusIn(dir);
  assert.match(
    status.outputs.moved.last_error,
    /HTTP 307 .*redirects to "\/elsewhere", which is not followed/,
  );
  assert.ok(!run.stderr.includes("secret-token-1") && !run.stderr.includes("p@ss:w0rd"));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("http output: a wrong token is a clear error in the log and the status, and auto-disables it", async () => {
  await using intake = await startIntake();
  intake.answer((request) =>
    request.headers.get("authorization") === "Bearer right"
      ? { status: 200 }
      : { status: 401, body: { error: "invalid token" } }
  );
  const dir = await Deno.makeTempDir();
  const path = await writeConfig(
    dir,
    config(
      dir,
      `
type: http
url: ${intake.url}/hits
auth: { type: bearer, token: wrong-token-42 }
retry: { cycles: [[50ms]], then_every: 50ms }
auto_disable: { min_requests: 3 }
`,
    ),
  );
  const run = await runCli(["run", "--config", path], { stdin: hitLines(5).join("\n") + "\n" });
  assert.equal(run.code, 1);
  const logs = logRecords(run.stderr);
  assert.ok(
    logs.some((r) =>
      r.msg === 'Output "out" request failed: HTTP 401 Unauthorized: {"error":"invalid token"}'
    ),
  );
  assert.ok(logs.some((r) => r.msg === 'Output "out" auto-disabled'));
  const status = await statusIn(dir);
  assert.equal(status.outputs.out.state, "auto_disabled");
  assert.match(status.outputs.out.last_error, /^HTTP 401 Unauthorized/);
  assert.equal(status.outputs.out.pending_hits, 5);
  assert.ok(!run.stderr.includes("wrong-token-42"));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("http output: hitship test sends the [Test message] notifications, or a test event as a record", async () => {
  await using intake = await startIntake();
  const dir = await Deno.makeTempDir();
  const path = await writeConfig(
    dir,
    `data_dir: ${dir}/data
outputs:
  - { name: hook, type: http, url: "${intake.url}/hook", format: notification, events: [hits, system] }
  - { name: lines, type: http, url: "${intake.url}/lines" }
`,
  );
  const hook = await runCli(["test", "hook", "--config", path]);
  assert.equal(hook.code, 0, hook.stderr);
  const lines = await runCli(["test", "lines", "--config", path]);
  assert.equal(lines.code, 0, lines.stderr);
  const bodies = intake.requests.map((r) => ({ path: r.path, body: JSON.parse(r.text.trim()) }));
  assert.equal(bodies.length, 3);
  assert.equal(bodies[0]!.body.summary, "[Test message] [Wallarm] New hit detected");
  assert.equal(bodies[0]!.body.details.hit.uri, "/etc/passwd");
  assert.match(bodies[1]!.body.summary, /^\[Test message\] Integration "archive"/);
  assert.equal(bodies[2]!.path, "/lines");
  assert.equal(bodies[2]!.body.summary, '[Test message] hitship can deliver to output "lines"');
  await until("nothing more", () => intake.requests.length === 3);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("http output (notification): after a failed request the batch goes on from the hit that failed; none is sent twice", async () => {
  await using intake = await startIntake();
  intake.answer((_request, n) => (n === 4 || n === 5 ? { status: 503 } : { status: 202 }));
  const dir = await Deno.makeTempDir();
  const hits = hitLines(20);
  const path = await writeConfig(
    dir,
    config(
      dir,
      `
type: http
url: ${intake.url}/hook
format: notification
retry: { cycles: [[50ms]], then_every: 50ms }
`,
    ),
  );
  const run = await runCli(["run", "--config", path], { stdin: hits.join("\n") + "\n" });
  assert.equal(run.code, 0, run.stderr);
  const delivered = intake.requests.filter((_r, n) => n !== 4 && n !== 5)
    .map((r) => JSON.parse(r.text).details.hit);
  assert.equal(intake.requests.length, 22);
  assertEachOnce(delivered, hits);
  assert.deepEqual(delivered.map((hit) => JSON.stringify(hit)), hits, "in order");
  await Deno.remove(dir, { recursive: true });
});
