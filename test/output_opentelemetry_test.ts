/**
 * `opentelemetry` end to end: the real CLI into Fluent Bit's `opentelemetry` input (a real
 * OTLP/HTTP receiver that decodes protobuf and JSON) in both encodings, through a restart; a local
 * intake for a wrong API key.
 */
import assert from "node:assert/strict";
import { FluentBit, needsFluentBit } from "./fluent_bit.ts";
import { startIntake } from "./intake.ts";
import { logRecords, runCli, statusIn, writeConfig } from "./helpers.ts";
import { assertEachOnce, hitLines, oneOutput as config, runThroughRestart } from "./outputs.ts";

type OtlpRecord = {
  ts: number;
  log: string;
  __internal__: {
    group_attributes: {
      resource: { attributes: Record<string, unknown> };
      scope: { name: string; version: string };
    };
    log_metadata: {
      otlp: { severity_number: number; severity_text: string; attributes: Record<string, unknown> };
    };
  };
};

for (const encoding of ["protobuf", "json"] as const) {
  Deno.test(
    needsFluentBit(
      `opentelemetry output (${encoding}): 10,000 hits to Fluent Bit's OTLP input, the hit as body, semantic-convention attributes`,
    ),
    async () => {
      await using fb = await FluentBit.start("opentelemetry", {}, { dateKey: "ts" });
      const dir = await Deno.makeTempDir();
      const hits = hitLines(10_000);
      const path = await writeConfig(
        dir,
        config(
          dir,
          `
type: opentelemetry
url: http://127.0.0.1:${fb.port}
encoding: ${encoding}
resource: { deployment.environment.name: test }
`,
        ),
      );
      const run = await runCli(["run", "--config", path], { stdin: hits.join("\n") + "\n" });
      assert.equal(run.code, 0, run.stderr);
      await fb.received(10_000);
      const records = fb.records as unknown as OtlpRecord[];
      for (const record of records) {
        const hit = JSON.parse(record.log);
        assert.equal(record.ts, Number(hit.time));
        const { resource, scope } = record.__internal__.group_attributes;
        assert.equal(resource.attributes["service.name"], "wallarm-node");
        assert.equal(resource.attributes["deployment.environment.name"], "test");
        assert.ok(resource.attributes["host.name"]);
        assert.equal(scope.name, "hitship");
        const otlp = record.__internal__.log_metadata.otlp;
        assert.equal(otlp.severity_text, hit.block_status === "blocked" ? "WARN" : "INFO");
        assert.equal(otlp.severity_number, hit.block_status === "blocked" ? 13 : 9);
        const [path, query] = (hit.uri as string).split("?");
        assert.deepEqual(otlp.attributes, {
          "client.address": hit.ip,
          "http.request.method": hit.method,
          "url.path": path,
          "url.query": query,
          "server.address": hit.domain,
          "http.response.status_code": hit.status_code,
          "wallarm.request_id": hit.request_id,
          "wallarm.attack_type": hit.attack_type,
          "wallarm.block_status": hit.block_status,
        });
      }
      assertEachOnce(records.map((r) => JSON.parse(r.log)), hits);
      await Deno.remove(dir, { recursive: true });
    },
  );
}

Deno.test(
  needsFluentBit(
    "opentelemetry output: Fluent Bit stopped mid-run and started again loses nothing",
  ),
  async () => {
    await using fb = await FluentBit.start("opentelemetry");
    const dir = await Deno.makeTempDir();
    const hits = hitLines(10_000);
    const path = await writeConfig(
      dir,
      config(
        dir,
        `
type: opentelemetry
url: http://127.0.0.1:${fb.port}/v1/logs
max_hits: 200
interval: 100ms
retry: { cycles: [[200ms]], then_every: 200ms }
`,
      ),
    );
    const { code, stderr } = await runThroughRestart(path, hits, fb);
    assert.equal(code, 0, stderr);
    await fb.received(10_000);
    assertEachOnce(
      (fb.records as unknown as OtlpRecord[]).map((r) => JSON.parse(r.log)),
      hits,
      false,
    );
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test("opentelemetry output: a wrong API key header is a clear error that auto-disables it, the key never logged", async () => {
  await using intake = await startIntake();
  intake.answer((request) =>
    request.headers.get("api-key") === "right"
      ? { status: 200, body: {} }
      : { status: 401, body: { code: 16, message: "invalid api key" } }
  );
  const dir = await Deno.makeTempDir();
  const path = await writeConfig(
    dir,
    config(
      dir,
      `
type: opentelemetry
url: ${intake.url}
encoding: json
headers: { api-key: wrong-otlp-key-12 }
retry: { cycles: [[50ms]], then_every: 50ms }
auto_disable: { min_requests: 3 }
`,
    ),
  );
  const run = await runCli(["run", "--config", path], { stdin: hitLines(2).join("\n") + "\n" });
  assert.equal(run.code, 1);
  assert.equal(intake.requests[0]!.path, "/v1/logs");
  assert.equal(intake.requests[0]!.headers.get("content-type"), "application/json");
  const status = await statusIn(dir);
  assert.equal(status.outputs.out.state, "auto_disabled");
  assert.equal(
    status.outputs.out.last_error,
    'HTTP 401 Unauthorized: {"code":16,"message":"invalid api key"}',
  );
  assert.ok(logRecords(run.stderr).some((r) => r.msg === 'Output "out" auto-disabled'));
  assert.ok(!run.stderr.includes("wrong-otlp-key-12"));
  await Deno.remove(dir, { recursive: true });
});
