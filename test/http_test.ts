/**
 * The HTTP endpoint of a running sidecar: /health, /ready and /metrics (checked with an
 * independent Prometheus text parser).
 */
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { freePort, spawnCli, writeConfig } from "./helpers.ts";
import { mixedInput } from "./hits.ts";

async function get(url: string): Promise<{ status: number; text: string }> {
  for (let i = 0;; i++) {
    try {
      const response = await fetch(url);
      return { status: response.status, text: await response.text() };
    } catch (error) {
      if (i > 100) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

Deno.test("http: /health and /ready answer 200, /metrics parses as Prometheus text with the counts", async () => {
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
http: { listen: "127.0.0.1:${port}" }
outputs:
  - { name: local, type: file, path: ${dir}/out, max_hits: 100 }
  - { name: off, type: file, path: ${dir}/off, enabled: false }
`,
  );
  const child = spawnCli(["run", "--config", config]);
  const writer = child.stdin.getWriter();
  const { text } = mixedInput(300, 7);
  await writer.write(new TextEncoder().encode(text));
  const base = `http://127.0.0.1:${port}`;
  assert.equal((await get(`${base}/health`)).status, 200);
  assert.equal((await get(`${base}/ready`)).status, 200);
  assert.equal((await get(`${base}/nope`)).status, 404);

  // Wait until every hit is delivered, as /metrics tells.
  let families: Array<
    {
      name: string;
      type: string;
      metrics: Array<{ value: string; labels?: Record<string, string> }>;
    }
  > = [];
  const value = (name: string, labels: Record<string, string> = {}) =>
    Number(
      families.find((f) => f.name === name)?.metrics.find((m) =>
        Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)
      )?.value,
    );
  for (let i = 0; i < 200; i++) {
    const metrics = await get(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    families = parsePrometheusTextFormat(metrics.text);
    if (value("hitship_output_delivered_hits_total", { output: "local" }) === 300) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(value("hitship_input_hits_total"), 300);
  assert.equal(value("hitship_input_rejected_total"), 7);
  assert.equal(value("hitship_input_lines_total"), 307);
  assert.equal(
    value("hitship_output_delivered_hits_total", { output: "local", type: "file" }),
    300,
  );
  assert.equal(value("hitship_output_requests_total", { output: "local" }), 3);
  assert.equal(value("hitship_output_state", { output: "local", state: "active" }), 1);
  assert.equal(value("hitship_output_state", { output: "off", state: "disabled" }), 1);
  assert.equal(value("hitship_output_state", { output: "off", state: "active" }), 0);
  assert.ok(value("hitship_journal_bytes") > 0);
  assert.ok(value("process_resident_memory_bytes") > 1_000_000);
  const types = Object.fromEntries(families.map((f) => [f.name, f.type]));
  assert.equal(types.hitship_input_hits_total, "COUNTER");
  assert.equal(types.hitship_output_pending_hits, "GAUGE");

  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
});

Deno.test("http: 1,100 idle connections at ulimit -n 128 neither kill the sidecar nor stop shipping", async () => {
  const { MOD, RUN_PERMISSIONS, statusIn, until } = await import("./helpers.ts");
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
http: { listen: "127.0.0.1:${port}" }
outputs: [{ name: local, type: file, path: ${dir}/out, max_hits: 50 }]
`,
  );
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      'ulimit -n 128 && exec "$@"',
      "bash",
      Deno.execPath(),
      "run",
      "--quiet",
      ...RUN_PERMISSIONS,
      MOD,
      "run",
      "--config",
      config,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const base = `http://127.0.0.1:${port}`;
  assert.equal((await get(`${base}/health`)).status, 200);
  const flood: Deno.Conn[] = [];
  for (let i = 0; i < 1100; i++) {
    try {
      flood.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    } catch {
      break; // the backlog is full: the server is not taking more
    }
  }
  assert.ok(flood.length >= 64, `${flood.length} connections opened`);
  // Shipping goes on meanwhile.
  const { text, hits } = mixedInput(200, 0);
  await writer.write(new TextEncoder().encode(text));
  await until(
    "200 delivered",
    async () => (await statusIn(`${dir}/data`))?.outputs?.local?.delivered_hits === 200,
  );
  for (const conn of flood) conn.close();
  // The endpoint answers again once the idle connections are gone.
  let status = 0;
  for (let i = 0; i < 100 && status !== 200; i++) {
    status = await fetch(`${base}/health`).then(async (r) => {
      await r.body?.cancel();
      return r.status;
    }, () => 0);
    if (status !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(status, 200);
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(hits.length, 200);
});
