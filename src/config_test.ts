import assert from "node:assert/strict";
import { builtinPlugins } from "../plugins/mod.ts";
import { ConfigError, parseConfig } from "./config.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

function problems(yaml: string, vars: Record<string, string> = {}): string[] {
  try {
    parseConfig(yaml, "hitship.yaml", { plugins: builtinPlugins, env: env(vars) });
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message.split("\n");
  }
  assert.fail("config should be rejected");
}

function parse(yaml: string, vars: Record<string, string> = {}) {
  return parseConfig(yaml, "hitship.yaml", { plugins: builtinPlugins, env: env(vars) });
}

Deno.test("parseConfig() fills every default: the node's retry schedule, 60 %, 12 h, stdin", () => {
  const config = parse("outputs: [{ name: a, type: file, path: out }]\n");
  assert.equal(config.data_dir, ".hitship");
  assert.equal(config.status_file, ".hitship/status.json");
  assert.equal(config.input.type, "stdin");
  assert.equal(config.input.max_line_bytes, 1024 * 1024);
  assert.deepEqual(config.retry.cycles, [
    [1000, 3000, 5000, 10000, 10000],
    [0, 1000, 3000, 5000, 30000],
    [60000, 60000, 180000, 300000, 600000, 1800000],
  ]);
  assert.equal(config.retry.then_every, 1_800_000);
  assert.deepEqual(config.auto_disable, {
    failure_ratio: 0.6,
    window: 43_200_000,
    min_requests: 10,
  });
  const [output] = config.outputs;
  assert.equal(output!.enabled, true);
  assert.equal(output!.interval, 600_000);
  assert.equal(output!.key, "hitlogs-{timestamp}.json");
  assert.equal(output!.format, "json");
});

Deno.test("parseConfig() reads ${VAR} and ${VAR:-default} from the environment", () => {
  const config = parse(
    `data_dir: \${DATA:-/var/lib/hitship}
status_file: "\${RUN}/status.json"
max_journal_bytes: \${JOURNAL}
outputs:
  - name: a
    type: file
    path: "$\${NOT_A_VAR}/\${OUT}"
`,
    { RUN: "/run/h", OUT: "x", JOURNAL: "268435456" },
  );
  assert.equal(config.data_dir, "/var/lib/hitship");
  assert.equal(config.status_file, "/run/h/status.json");
  assert.equal(config.max_journal_bytes, 268435456, "an unquoted number stays a number");
  assert.equal(config.outputs[0]!.path, "${NOT_A_VAR}/x");
});

Deno.test("parseConfig() names an unset variable without default, with its line", () => {
  assert.deepEqual(
    problems(`outputs:\n  - name: a\n    type: file\n    path: \${EXPORT_DIR}\n`),
    [
      'hitship.yaml:4:11: outputs[0].path: environment variable "EXPORT_DIR" is not set and has no default',
    ],
  );
});

Deno.test("parseConfig() reports every error at once, each with file, line and column", () => {
  const lines = problems(`data_dir: /tmp/x
retry:
  cycles: [[1s, 3 seconds]]
auto_disable: { failure_ratio: 1.5 }
outputs:
  - name: a
    type: file
    path: out
    max_hits: -1
  - name: a
    type: s3
`);
  assert.deepEqual(lines, [
    'hitship.yaml:3:17: retry.cycles[0][1]: expected a duration such as 500ms, 10s, 10m or 12h, got "3 seconds"',
    "hitship.yaml:4:32: auto_disable.failure_ratio: expected a number <= 1, got 1.5",
    "hitship.yaml:9:15: outputs[0].max_hits: expected a number > 0, got -1",
    `hitship.yaml:11:11: outputs[1].type: expected one of ${
      builtinPlugins.map((p) => `"${p.type}"`).join(", ")
    }, got "s3"`,
  ]);
});

Deno.test("parseConfig() rejects unknown keys at every level and suggests the nearest", () => {
  assert.deepEqual(problems(`data_dri: x\noutputs: [{ name: a, type: file, path: o }]\n`), [
    'hitship.yaml:1:1: data_dri: unknown key "data_dri", did you mean "data_dir"?',
  ]);
  assert.deepEqual(
    problems(`outputs: [{ name: a, type: file, path: o, filter: { attack: [sqli] } }]\n`),
    ['hitship.yaml:1:53: outputs[0].filter.attack: unknown key "attack", did you mean "attack_type"?'],
  );
});

Deno.test("parseConfig() requires outputs and unique names, and reports YAML syntax errors", () => {
  assert.deepEqual(problems("data_dir: x\n"), [
    "hitship.yaml:1:1: outputs: is required (expected an array)",
  ]);
  assert.match(
    problems(
      `outputs:\n  - { name: a, type: file, path: o }\n  - { name: a, type: file, path: p }\n`,
    )[0]!,
    /^hitship\.yaml:3:\d+: outputs\[1\]\.name: duplicate output name "a"/,
  );
  assert.match(problems("outputs: [\n  - a\n")[0]!, /^hitship\.yaml:\d+:\d+: /);
});

Deno.test("parseConfig() never echoes the value of a secret key in an error", () => {
  const lines = problems(`outputs:
  - name: archive
    type: minio-hitlogs
    endpoint: http://127.0.0.1:9000
    bucket: hits
    access_key: 12345
    secret_key: 987654321
`);
  assert.deepEqual(lines, [
    "hitship.yaml:6:17: outputs[0].access_key: expected a string",
    "hitship.yaml:7:17: outputs[0].secret_key: expected a string",
  ]);
});
