import assert from "node:assert/strict";
import { builtinPlugins } from "../../plugins/mod.ts";
import { ConfigError, parseConfig } from "./config.ts";
import { outputPluginsOf } from "./registry.ts";

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
  assert.equal(config.inputs[0]!.type, "stdin");
  assert.equal(config.inputs[0]!.name, "input");
  assert.equal(config.inputs[0]!.max_line_bytes, 1024 * 1024);
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
      outputPluginsOf(builtinPlugins).map((p) => `"${p.type}"`).join(", ")
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

Deno.test("parseConfig() rejects two outputs that can write the same name in the same place", () => {
  const cwd = Deno.cwd();
  assert.deepEqual(
    problems(`outputs:
  - { name: a, type: file, path: /x/out }
  - { name: b, type: file, path: /x/out/ }
`),
    [
      `hitship.yaml:3:5: outputs[1].key: outputs "a" and "b" can write the same name ("file:/x/out/hitlogs-{timestamp}.json") and would overwrite each other's exports: give one a distinct key or place, or put {output} in the key (e.g. "{output}/hitlogs-{timestamp}.json")`,
    ],
  );
  // A nested directory and a key with a directory can meet, relative paths too.
  assert.match(
    problems(`outputs:
  - { name: a, type: file, path: out, key: "sub/h-{timestamp}.json" }
  - { name: b, type: file, path: ${cwd}/out/sub, key: "h-{seq}.json" }
`)[0]!,
    /outputs\[1\]\.key: outputs "a" and "b" can write the same name/,
  );
  const s3 = (name: string, extra = "") =>
    `  - { name: ${name}, type: minio-hitlogs, endpoint: "http://Minio:9000", bucket: hits, access_key: k, secret_key: s${extra} }\n`;
  assert.match(
    problems(
      `outputs:\n${s3("a")}${s3("b").replace("http://Minio:9000", "http://minio:9000/")}`,
    )[0]!,
    /outputs "a" and "b" can write the same name \("s3:http:\/\/minio:9000\/hits\/hitlogs-\{timestamp\}\.json"\)/,
  );
});

Deno.test("parseConfig() lets outputs share a place with {output} or distinct keys", () => {
  const s3 = (name: string, extra = "") =>
    `  - { name: ${name}, type: minio-hitlogs, endpoint: "http://minio:9000", bucket: hits, access_key: k, secret_key: s${extra} }\n`;
  parse(
    `outputs:\n${s3("a", ', key: "{output}/hitlogs-{timestamp}.json"')}${
      s3("b", ', key: "{output}/hitlogs-{timestamp}.json"')
    }`,
  );
  parse(`outputs:\n${s3("a")}${s3("b", ", format: jsonl")}`);
  parse(`outputs:\n${s3("a")}${s3("b").replace("bucket: hits", "bucket: other")}`);
  parse(`outputs:
  - { name: a, type: file, path: /x/a }
  - { name: b, type: file, path: /x/b }
  - { name: c, type: insightconnect, api_url: "http://h/connect/v1/workflows/w/events/execute", api_key: k }
  - { name: d, type: insightconnect, api_url: "http://h/connect/v1/workflows/w/events/execute", api_key: k }
`);
});

Deno.test("parseConfig() rejects keys that leave their place, literal or from ${VAR}", () => {
  const key = (k: string) =>
    problems(`outputs:\n  - { name: a, type: file, path: /x, key: "${k}" }\n`, {
      ESCAPE: "../../escape",
    });
  assert.deepEqual(key("../{timestamp}.json"), [
    `hitship.yaml:2:43: outputs[0].key: expected a name that stays inside the output's place, but it holds a "." or ".." segment: "../{timestamp}.json"`,
  ]);
  assert.match(key("${ESCAPE}/h-{timestamp}.json")[0]!, /it holds a "\." or "\.\." segment/);
  assert.match(key("/etc/{timestamp}.json")[0]!, /it starts with "\/"/);
  assert.match(key("a\\\\b-{timestamp}.json")[0]!, /it holds a backslash/);
  assert.match(key("a\\tb-{timestamp}.json")[0]!, /it holds a control character/);
  assert.match(
    key("{nope}.json")[0]!,
    /expected a template using only .*\{output\}, got "\{nope\}"/,
  );
});

Deno.test("parseConfig() rejects durations a timer cannot hold and zeros that cannot work, with their place", () => {
  const top = (line: string) =>
    problems(`${line}\noutputs: [{ name: a, type: file, path: /x }]\n`)[0];
  assert.equal(
    top("shutdown_timeout: 30d"),
    "hitship.yaml:1:19: shutdown_timeout: expected a duration from 100ms to 24d, got 30d",
  );
  assert.equal(
    top("shutdown_timeout: 0s"),
    "hitship.yaml:1:19: shutdown_timeout: expected a duration from 100ms to 24d, got 0ms",
  );
  assert.match(top("max_journal_bytes: 0")!, /1:20: max_journal_bytes: expected a size from 2KiB/);
  assert.match(
    top("journal_segment_bytes: 0")!,
    /journal_segment_bytes: expected a size from 1KiB to 1GiB, got 0/,
  );
  assert.match(
    top("dead_letter_max_bytes: 0")!,
    /dead_letter_max_bytes: expected a size from 4KiB to 1GiB, got 0/,
  );
  assert.match(
    top("retry: { then_every: 0ms }")!,
    /retry\.then_every: expected a duration from 1ms to 24d, got 0ms/,
  );
  assert.match(
    top("auto_disable: { window: 0s }")!,
    /auto_disable\.window: expected a duration from 1s to 24d, got 0ms/,
  );
  assert.match(
    top("input: { type: file, path: /x, poll_interval: 0ms }")!,
    /input\.poll_interval: expected a duration from 10ms to 1h, got 0ms/,
  );
  const output = (fields: string) =>
    problems(`outputs: [{ name: a, type: file, path: /x, ${fields} }]\n`)[0];
  assert.match(
    output("interval: 30d")!,
    /outputs\[0\]\.interval: expected a duration from 0ms to 24d, got 30d/,
  );
  assert.match(output("max_bytes: 0")!, /outputs\[0\]\.max_bytes: expected a size from 1 to/);
  assert.match(
    output("retry: { cycles: [[1s, 25d]] }")!,
    /outputs\[0\]\.retry\.cycles\[0\]\[1\]: expected a duration from 0ms to 24d, got 25d/,
  );
  // The node's own schedule, with its 0s, stays valid.
  parse(
    "retry: { cycles: [[0s, 1s]] }\noutputs: [{ name: a, type: file, path: /x, interval: 0s }]\n",
  );
});

Deno.test("parseConfig() stops a YAML alias bomb with its place", () => {
  const bomb = [
    "a: &a [x, x, x, x, x, x, x, x, x, x]",
    ...Array.from(
      { length: 8 },
      (_, i) =>
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${
          Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(", ")
        }]`,
    ),
    "outputs: [{ name: a, type: file, path: /x }]",
  ].join("\n");
  const [problem] = problems(bomb);
  assert.match(problem!, /^hitship\.yaml:2:\d+: cannot expand the YAML aliases: /);
});
