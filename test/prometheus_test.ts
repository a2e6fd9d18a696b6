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
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
max_journal_bytes: 256MiB
input: { type: file, name: node, path: ${log} }
http: { listen: "127.0.0.1:${port}" }
outputs:
  - { name: local, type: file, path: ${dir}/out, interval: 1h }
`,
  );
  const child = spawnCli(["run", "--config", config]);
  child.stdin.close();
  const prometheusPort = freePort();
  let prometheus: Deno.ChildProcess | undefined;
  try {
    await listening(port);
    await until(
      "every line read",
      async () => (await statusIn(`${dir}/data`))?.input?.lines === 122,
    );
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
    assert.ok(await value('hitship_output_oldest_pending_age_seconds{output="local"}') >= 0);
    assert.equal(await value('hitship_output_state{output="local",state="active"}'), 1);
    assert.equal(await value("hitship_journal_max_bytes"), 256 * 1024 * 1024);
    assert.equal(await value("hitship_ready"), 1);
    assert.equal((await query("hitship_build_info"))[0]!.metric.version, "0.1.0");
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
