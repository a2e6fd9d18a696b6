/**
 * The new outputs from the command line: `hitship validate` finds their bad values with
 * FILE:LINE:COL, and `hitship test` sends each one's test event to a receiver that answers as the
 * real one does.
 */
import assert from "node:assert/strict";
import { decodeMultiStream, encode } from "@msgpack/msgpack";
import { startIntake } from "./intake.ts";
import { runCli, writeConfig } from "./helpers.ts";

Deno.test("hitship validate: bad values of the new outputs, each with FILE:LINE:COL and what is expected", async () => {
  const dir = await Deno.makeTempDir();
  const path = await writeConfig(
    dir,
    `outputs:
  - { name: a, type: http, url: "ftp://x", format: xml }
  - { name: b, type: datadog, api_key: k, site: datadoghq.org }
  - { name: c, type: splunk-hec, url: "https://splunk:8088", token: t, max_hits: 0 }
  - { name: d, type: elasticsearch, url: "http://es:9200", index: "Wallarm-%Y" }
  - { name: e, type: syslog, address: "siem", facility: local9, format: json }
  - { name: f, type: forward, address: "fluentd:24224", tag: "bad tag" }
  - { name: f2, type: forward, address: "fluentd:24224", tls: {} }
  - { name: g, type: opentelemetry, url: "http://otel:4318", encoding: grpc }
  - { name: h, type: sumologic, url: "https://sumo/x", category: "a\\u0001b" }
`,
  );
  const run = await runCli(["validate", "--config", path]);
  assert.equal(run.code, 1, run.stderr);
  const expected = [
    /:2:\d+: outputs\[0\]\.url: expected an http:\/\/ or https:\/\/ URL/,
    /:2:\d+: outputs\[0\]\.format: .*"ndjson".*"json".*"notification"/,
    /:3:\d+: outputs\[1\]\.site: .*"datadoghq\.com"/,
    /:4:\d+: outputs\[2\]\.max_hits: .*/,
    /:5:\d+: outputs\[3\]\.index: expected a lowercase index name/,
    /:6:\d+: outputs\[4\]\.address: expected host:port/,
    /:6:\d+: outputs\[4\]\.facility: .*"local0"/,
    /:6:\d+: outputs\[4\]\.format: .*"rfc5424"/,
    /:7:\d+: outputs\[5\]\.tag: expected a tag of letters, digits/,
    /:8:\d+: outputs\[6\]\.tls: tls needs transport: tls/,
    /:9:\d+: outputs\[7\]\.encoding: .*"protobuf".*"json"/,
    /:10:\d+: outputs\[8\]\.category: expected printable ASCII/,
  ];
  for (const pattern of expected) {
    assert.ok(
      run.stderr.split("\n").some((line) => line.startsWith(path) && pattern.test(line)),
      `${pattern} in:\n${run.stderr}`,
    );
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("hitship test: every new output sends its [Test message] event to its receiver", async () => {
  await using intake = await startIntake();
  intake.answer((request) => {
    if (request.path.endsWith("/services/collector/event")) {
      return { status: 200, body: { text: "Success", code: 0 } };
    }
    if (request.path.endsWith("/_bulk")) {
      return { status: 200, body: { errors: false, items: [{ create: { status: 201 } }] } };
    }
    return { status: request.path === "/api/v2/logs" ? 202 : 200, body: {} };
  });
  // A syslog receiver and a Forward receiver that acknowledges.
  const syslog = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let syslogText = "";
  const syslogDone = (async () => {
    const conn = await syslog.accept();
    for await (const chunk of conn.readable) syslogText += new TextDecoder().decode(chunk);
  })();
  const forward = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const forwarded: unknown[] = [];
  const forwardDone = (async () => {
    const conn = await forward.accept();
    const writer = conn.writable.getWriter();
    for await (const message of decodeMultiStream(conn.readable)) {
      forwarded.push(message);
      await writer.write(encode({ ack: ((message as unknown[])[2] as { chunk: string }).chunk }));
    }
  })().catch(() => {});
  const port = (l: Deno.Listener) => (l.addr as Deno.NetAddr).port;
  const dir = await Deno.makeTempDir();
  const path = await writeConfig(
    dir,
    `data_dir: ${dir}/data
outputs:
  - { name: dd, type: datadog, url: "${intake.url}/api/v2/logs", api_key: k, compress: none }
  - { name: sumo, type: sumologic, url: "${intake.url}/receiver/v1/http/t", compress: none }
  - { name: hec, type: splunk-hec, url: "${intake.url}", token: t }
  - { name: es, type: elasticsearch, url: "${intake.url}" }
  - { name: otel, type: opentelemetry, url: "${intake.url}", encoding: json, compress: none }
  - { name: siem, type: syslog, address: "127.0.0.1:${port(syslog)}" }
  - { name: fluentd, type: forward, address: "127.0.0.1:${port(forward)}" }
`,
  );
  const run = await runCli(["test", "--config", path]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  for (const name of ["dd", "sumo", "hec", "es", "otel", "siem", "fluentd"]) {
    assert.match(run.stdout, new RegExp(`${name}.*sent a test event`), run.stdout);
  }
  const summary = "[Test message] hitship can deliver to output";
  for (
    const path of [
      "/api/v2/logs",
      "/receiver/v1/http/t",
      "/services/collector/event",
      "/_bulk",
      "/v1/logs",
    ]
  ) {
    const request = intake.requests.find((r) => r.path === path);
    assert.ok(request?.text.includes(summary), `${path}: ${request?.text}`);
  }
  syslog.close();
  forward.close();
  await Promise.race([syslogDone, new Promise((r) => setTimeout(r, 500))]);
  await Promise.race([forwardDone, new Promise((r) => setTimeout(r, 500))]);
  assert.match(
    syslogText,
    /^\d+ <13\d>1 \S+ \S+ wallarm - test_message - \{"summary":"\[Test message\] hitship can deliver to output \\"siem\\""/,
  );
  const [tag] = forwarded[0] as [string];
  assert.equal(tag, "wallarm.events");
  await Deno.remove(dir, { recursive: true });
});
