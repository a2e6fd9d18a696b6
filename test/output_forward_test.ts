/**
 * `forward` end to end: the real CLI into Fluent Bit's `forward` input with a shared key and
 * acks, through a restart, a wrong key; and into hitship's own `forward` input (hitship to
 * hitship) with CompressedPackedForward.
 */
import assert from "node:assert/strict";
import { FluentBit, needsFluentBit } from "./fluent_bit.ts";
import {
  freePort,
  listening,
  logRecords,
  readExports,
  runCli,
  spawnCli,
  statusIn,
  writeConfig,
} from "./helpers.ts";
import { assertEachOnce, hitLines, oneOutput as config, runThroughRestart } from "./outputs.ts";

const KEY = "forward-shared-key-9d1";

Deno.test(
  needsFluentBit(
    "forward output: 10,000 hits to Fluent Bit's forward input with a shared key and acks, each once, EventTime from the hit",
  ),
  async () => {
    await using fb = await FluentBit.start("forward", { shared_key: KEY, self_hostname: "fb" }, {
      dateKey: "ts",
    });
    const dir = await Deno.makeTempDir();
    const hits = hitLines(10_000);
    const path = await writeConfig(
      dir,
      config(
        dir,
        `
type: forward
address: 127.0.0.1:${fb.port}
shared_key: \${FORWARD_KEY}
max_hits: 1000
`,
      ),
    );
    const run = await runCli(["run", "--config", path], {
      stdin: hits.join("\n") + "\n",
      env: { FORWARD_KEY: KEY },
    });
    assert.equal(run.code, 0, run.stderr);
    await fb.received(10_000);
    const records = fb.records as Array<Record<string, unknown>>;
    for (const record of records) assert.equal(record.ts, Number(record.time));
    assertEachOnce(records.map(({ ts: _, ...hit }) => hit), hits);
    const status = await statusIn(dir);
    assert.equal(status.outputs.out.requests, 10);
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test(
  needsFluentBit("forward output: Fluent Bit stopped mid-run and started again loses nothing"),
  async () => {
    await using fb = await FluentBit.start("forward", { shared_key: KEY, self_hostname: "fb" });
    const dir = await Deno.makeTempDir();
    const hits = hitLines(10_000);
    const path = await writeConfig(
      dir,
      config(
        dir,
        `
type: forward
address: 127.0.0.1:${fb.port}
shared_key: ${KEY}
compress: gzip
max_hits: 200
interval: 100ms
ack_timeout: 2s
retry: { cycles: [[200ms]], then_every: 200ms }
`,
      ),
    );
    const { code, stderr } = await runThroughRestart(path, hits, fb);
    assert.equal(code, 0, stderr);
    await fb.received(10_000);
    assertEachOnce(fb.records, hits, false);
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test(
  needsFluentBit(
    "forward output: a wrong shared key is refused in the handshake: a clear error, auto-disabled",
  ),
  async () => {
    await using fb = await FluentBit.start("forward", { shared_key: KEY, self_hostname: "fb" });
    const dir = await Deno.makeTempDir();
    const path = await writeConfig(
      dir,
      config(
        dir,
        `
type: forward
address: 127.0.0.1:${fb.port}
shared_key: not-the-key-5521
retry: { cycles: [[50ms]], then_every: 50ms }
auto_disable: { min_requests: 3 }
`,
      ),
    );
    const run = await runCli(["run", "--config", path], { stdin: hitLines(2).join("\n") + "\n" });
    assert.equal(run.code, 1);
    const status = await statusIn(dir);
    assert.equal(status.outputs.out.state, "auto_disabled");
    assert.match(
      status.outputs.out.last_error,
      /^Forward to 127\.0\.0\.1:\d+ over tcp: (the receiver refused the handshake: .*|the receiver closed the connection before its PONG) \(check shared_key\)|closed the connection before its PONG/,
    );
    assert.ok(logRecords(run.stderr).some((r) => r.msg === 'Output "out" auto-disabled'));
    assert.ok(!run.stderr.includes("not-the-key-5521"));
    assert.equal(fb.records.length, 0);
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test("forward output into hitship's own forward input: 10,000 hits, gzip-compressed, shared key, acks; each once", async () => {
  const receiver = await Deno.makeTempDir();
  const port = freePort();
  const receiverConfig = await writeConfig(
    receiver,
    `data_dir: ${receiver}/data
input: { type: forward, listen: "127.0.0.1:${port}", shared_key: ${KEY} }
outputs: [{ name: local, type: file, path: ${receiver}/out, interval: 1h }]
`,
  );
  const child = spawnCli(["run", "--config", receiverConfig]);
  child.stdin.close();
  await listening(port);
  const dir = await Deno.makeTempDir();
  const hits = hitLines(10_000);
  const path = await writeConfig(
    dir,
    config(dir, `type: forward\naddress: 127.0.0.1:${port}\nshared_key: ${KEY}\ncompress: gzip`),
  );
  const run = await runCli(["run", "--config", path], { stdin: hits.join("\n") + "\n" });
  assert.equal(run.code, 0, run.stderr);
  child.kill("SIGTERM");
  await child.output();
  assertEachOnce(await readExports(`${receiver}/out`), hits);
  await Deno.remove(dir, { recursive: true });
  await Deno.remove(receiver, { recursive: true });
});
