/**
 * Monitoring with the real tools, Debian's Prometheus 2.42 and promtool (installed by the test
 * harness): the alert rules pass `promtool check rules` and their unit tests, every rule has tests;
 * `/metrics` passes `promtool check metrics`; and a real Prometheus that scrapes a running hitship
 * reads the same values as the status file and loads the rules.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { freePort, listening, spawnCli, statusIn, until, writeConfig } from "./helpers.ts";
import { makeHit } from "./hits.ts";
import { startReceiver } from "./receiver.ts";

const root = new URL("../", import.meta.url).pathname;
const rules = `${root}deploy/prometheus/alerts.yaml`;
const dec = new TextDecoder();

async function run(cmd: string, args: string[], stdin?: string) {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test("alert rules: promtool checks them and runs their unit tests; every rule has tests that fire it", async () => {
  const check = await run("promtool", ["check", "rules", rules]);
  assert.equal(check.code, 0, check.text);
  assert.match(check.text, /SUCCESS: 7 rules found/);
  const tests = await run("promtool", [
    "test",
    "rules",
    `${root}deploy/prometheus/alerts_test.yaml`,
  ]);
  assert.equal(tests.code, 0, tests.text);
  assert.match(tests.text, /SUCCESS/);
  const names = parse(await Deno.readTextFile(rules)).groups.flatMap((g: { rules: unknown[] }) =>
    g.rules.map((r) => (r as { alert: string }).alert)
  );
  const suite = parse(await Deno.readTextFile(`${root}deploy/prometheus/alerts_test.yaml`));
  const fired = new Set<string>();
  for (const test of suite.tests) {
    for (const t of test.alert_rule_test) if (t.exp_alerts.length > 0) fired.add(t.alertname);
  }
  assert.deepEqual(names.toSorted(), [...fired].toSorted(), "every rule fires in some test");
});

Deno.test("a real Prometheus scrapes hitship: the values equal the status file's, the rules load, promtool checks the metrics", async () => {
  const dir = await Deno.makeTempDir();
  const log = `${dir}/hits.ndjson`;
  const hits = Array.from({ length: 120 }, (_, i) => JSON.stringify(makeHit(i)));
  // Two bad lines, for the rejected counter.
  await Deno.writeTextFile(
    log,
    [...hits.slice(0, 60), "not a hit", "{}", ...hits.slice(60)].join("\n") + "\n",
  );
  const port = freePort();
  await using receiver = await startReceiver();
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
max_journal_bytes: 256MiB
input: { type: file, name: node, path: ${log} }
http: { listen: "127.0.0.1:${port}" }
outputs:
  - { name: local, type: file, path: ${dir}/out, interval: 1h }
  - name: soar
    type: insightconnect
    api_url: "${receiver.url}"
    api_key: "${receiver.key}"
    max_hits_per_request: 7
`,
  );
  const child = spawnCli(["run", "--config", config]);
  child.stdin.close();
  const prometheusPort = freePort();
  let prometheus: Deno.ChildProcess | undefined;
  try {
    await listening(port);
    await until("every line read and sent", async () => {
      const status = await statusIn(`${dir}/data`);
      return status?.input?.lines === 122 && status.outputs.soar.delivered_hits === 120;
    });
    // A reload (SIGHUP) that works.
    child.kill("SIGHUP");
    await until("reloaded", async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return /^hitship_config_reloads_total\{result="success"\} 1$/m.test(text);
    });
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const checked = await run("promtool", ["check", "metrics"], metrics);
    assert.equal(checked.code, 0, checked.text);

    await Deno.writeTextFile(
      `${dir}/prometheus.yml`,
      `global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: ["${rules}"]
scrape_configs:
  - job_name: hitship
    static_configs: [{ targets: ["127.0.0.1:${port}"] }]
`,
    );
    prometheus = new Deno.Command("prometheus", {
      args: [
        `--config.file=${dir}/prometheus.yml`,
        `--storage.tsdb.path=${dir}/tsdb`,
        `--web.listen-address=127.0.0.1:${prometheusPort}`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const api = `http://127.0.0.1:${prometheusPort}/api/v1`;
    const query = async (
      q: string,
    ): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> => {
      const response = await fetch(`${api}/query?query=${encodeURIComponent(q)}`);
      const body = await response.json();
      assert.equal(body.status, "success", JSON.stringify(body));
      return body.data.result;
    };
    await until("a scrape", async () => {
      try {
        return (await query('up{job="hitship"}'))[0]?.value[1] === "1" &&
          (await query("hitship_input_hits_total")).length > 0;
      } catch {
        return false;
      }
    });
    const status = await statusIn(`${dir}/data`);
    const value = async (q: string) => Number((await query(q))[0]!.value[1]);
    assert.equal(await value('hitship_input_hits_total{input="node"}'), status.inputs.node.hits);
    assert.equal(
      await value('hitship_input_rejected_total{input="node"}'),
      status.inputs.node.rejected,
    );
    assert.equal(status.inputs.node.rejected, 2);
    assert.equal(
      await value('hitship_output_pending_hits{output="local"}'),
      status.outputs.local.pending_hits,
    );
    assert.equal(status.outputs.local.pending_hits, 120, "the file output waits for its hour");
    assert.equal(
      await value('hitship_output_pending_bytes{output="local"}'),
      status.outputs.local.pending_bytes,
    );
    assert.ok(status.outputs.local.oldest_pending_at);
    // The age Prometheus scraped is that of the status file's oldest pending hit, give or take
    // the time between the scrape and now.
    const age = await value('hitship_output_oldest_pending_age_seconds{output="local"}');
    const since = (Date.now() - Date.parse(status.outputs.local.oldest_pending_at)) / 1000;
    assert.ok(age <= since + 1 && age >= since - 30, `age ${age} s, pending since ${since} s`);
    assert.equal(await value('hitship_output_state{output="local",state="active"}'), 1);
    assert.equal(await value("hitship_journal_max_bytes"), 256 * 1024 * 1024);
    assert.equal(await value("hitship_ready"), 1);
    assert.equal((await query("hitship_build_info"))[0]!.metric.version, "0.1.0");
    // Every request timed, every delivered batch counted.
    const requests = status.outputs.soar.requests;
    assert.ok(requests >= 120 / 7, `${requests} requests`);
    assert.equal(
      await value('sum(hitship_output_request_duration_seconds_count{output="soar"})'),
      requests,
    );
    assert.equal(
      await value(
        'hitship_output_request_duration_seconds_bucket{output="soar",result="ok",le="+Inf"}',
      ),
      requests,
    );
    assert.equal(await value('hitship_output_batch_hits_sum{output="soar"}'), 120);
    assert.ok(await value('hitship_output_batch_hits_bucket{output="soar",le="10"}') >= 120 / 7);
    assert.equal(await value('hitship_config_reloads_total{result="success"}'), 1);
    assert.equal(await value('hitship_config_reloads_total{result="failure"}'), 0);
    assert.ok(await value("process_cpu_seconds_total") > 0);
    // The rules are loaded and evaluate without errors against hitship's own series.
    const loaded = await (await fetch(`${api}/rules`)).json();
    const alerting = loaded.data.groups.flatMap((g: { rules: Array<{ health: string }> }) =>
      g.rules
    );
    assert.equal(alerting.length, 7);
    await until("the rules evaluated", async () => {
      const now = await (await fetch(`${api}/rules`)).json();
      return now.data.groups.flatMap((g: { rules: Array<{ health: string }> }) => g.rules)
        .every((r: { health: string }) => r.health === "ok");
    });
  } finally {
    prometheus?.kill("SIGTERM");
    await prometheus?.status;
    try {
      child.kill("SIGTERM");
    } catch {
      // ended already: its output says why
    }
    const out = await child.output();
    assert.equal(out.code, 0, dec.decode(out.stderr));
  }
});

Deno.test("Kubernetes monitoring: a Service, a PodMonitor and the alert rules as a PrometheusRule pass the Operator's schemas and fit the Deployment", async () => {
  const { parseAllDocuments } = await import("yaml");
  const { PodMonitor, PrometheusRule } = await import(
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1"
  );
  const { Service } = await import("kubernetes-models/v1");
  const models: Record<string, new (data: never) => { validate(): void }> = {
    Service: Service as never,
    PodMonitor: PodMonitor as never,
    PrometheusRule: PrometheusRule as never,
  };
  // deno-lint-ignore no-explicit-any
  const objects: Record<string, any> = {};
  const text = await Deno.readTextFile(`${root}deploy/kubernetes/monitoring/monitoring.yaml`);
  for (const doc of parseAllDocuments(text)) {
    assert.deepEqual(doc.errors, []);
    const object = doc.toJS();
    new models[object.kind]!(object as never).validate(); // throws with the schema's complaint
    objects[object.kind] = object;
  }
  assert.deepEqual(Object.keys(objects).toSorted(), ["PodMonitor", "PrometheusRule", "Service"]);
  const deployment = parse(await Deno.readTextFile(`${root}deploy/kubernetes/deployment.yaml`));
  const pod = deployment.spec.template;
  const sidecar = pod.spec.containers.find((c: { name: string }) => c.name === "hitship");
  const port = sidecar.ports.find((p: { name: string }) => p.name === "http");
  const configMap = parse(await Deno.readTextFile(`${root}deploy/kubernetes/configmap.yaml`));
  const listen = parse(configMap.data["hitship.yaml"]).http.listen as string;
  assert.equal(Number(listen.split(":").at(-1)), port.containerPort, "the metrics port");
  for (
    const selector of [objects.PodMonitor.spec.selector.matchLabels, objects.Service.spec.selector]
  ) {
    for (const [key, value] of Object.entries(selector)) {
      assert.equal(pod.metadata.labels[key], value);
    }
  }
  const endpoint = objects.PodMonitor.spec.podMetricsEndpoints[0];
  assert.equal(endpoint.port, "http");
  assert.equal(endpoint.path, "/metrics");
  assert.deepEqual(endpoint.relabelings, [{ targetLabel: "job", replacement: "hitship" }]);
  assert.deepEqual(
    objects.PrometheusRule.spec.groups,
    parse(await Deno.readTextFile(rules)).groups,
    "the PrometheusRule holds deploy/prometheus/alerts.yaml",
  );
});

Deno.test("Grafana dashboard: valid dashboard JSON, every query parses as PromQL (promtool) and names only metrics hitship exports", async () => {
  const dashboard = JSON.parse(await Deno.readTextFile(`${root}deploy/grafana/hitship.json`));
  assert.equal(dashboard.uid, "hitship");
  assert.ok(dashboard.schemaVersion >= 30);
  assert.ok(Array.isArray(dashboard.panels) && dashboard.panels.length >= 10);
  const ids = dashboard.panels.map((p: { id: number }) => p.id);
  assert.equal(new Set(ids).size, ids.length, "panel ids are unique");
  const exprs: string[] = [];
  for (const panel of dashboard.panels) {
    assert.ok(panel.title && panel.type && panel.gridPos, JSON.stringify(panel).slice(0, 200));
    assert.ok(panel.targets.length > 0);
    for (const target of panel.targets) exprs.push(target.expr);
  }
  // Grafana's variables as Prometheus would see them, then each query as a recording rule.
  const promql = exprs.map((e) =>
    e.replaceAll("$instance", ".*").replaceAll("$__rate_interval", "5m").replaceAll(
      "$__range",
      "1h",
    )
  );
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/dashboard_rules.yaml`,
    JSON.stringify({
      groups: [{
        name: "dashboard",
        rules: promql.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })),
      }],
    }),
  );
  const check = await run("promtool", ["check", "rules", `${dir}/dashboard_rules.yaml`]);
  assert.equal(check.code, 0, check.text);
  assert.match(check.text, new RegExp(`SUCCESS: ${promql.length} rules found`));
  // The metric names: every one among the families /metrics renders.
  const { metricsText } = await import("../src/status/endpoint.ts");
  const { newInputStatus, newOutputStatus } = await import("../src/status/status.ts");
  const input = newInputStatus("file", "/x");
  const text = metricsText({
    version: 1,
    updated_at: new Date().toISOString(),
    pid: 1,
    journal: { bytes: 0, segments: 1 },
    input,
    inputs: { node: input },
    outputs: { soar: newOutputStatus("insightconnect") },
    last_config_error: null,
  }, { version: "0.1.0", ready: true, journalMaxBytes: 1 });
  const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
  const used = new Set(
    promql.flatMap((e) => [...e.matchAll(/\b(?:hitship|process)_[a-z_]+/g)].map((m) => m[0])),
  );
  for (const name of used) assert.ok(exported.has(name), `${name} is not a metric hitship exports`);
  assert.ok(used.size >= 10, [...used].join(", "));
});
