/**
 * `splunk-hec` end to end: the real CLI into Fluent Bit's `splunk` input (a real HEC receiver with
 * token checks), through a restart; a local HEC for what Fluent Bit does not do (indexer
 * acknowledgement, an event HEC names invalid).
 */
import assert from "node:assert/strict";
import { FluentBit, needsFluentBit } from "./fluent_bit.ts";
import { startIntake } from "./intake.ts";
import { logRecords, runCli, statusIn, writeConfig } from "./helpers.ts";
import { assertEachOnce, hitLines, oneOutput as config, runThroughRestart } from "./outputs.ts";

const TOKEN = "5f3c1e2a-hec-token";

type HecRecord = {
  time: number;
  host: string;
  source: string;
  sourcetype: string;
  index: string;
  event: Record<string, unknown>;
};

Deno.test(
  needsFluentBit(
    "splunk-hec output: 10,000 hits reach Fluent Bit's HEC, each an event with the hit's time",
  ),
  async () => {
    await using fb = await FluentBit.start("splunk", { splunk_token: TOKEN });
    const dir = await Deno.makeTempDir();
    const hits = hitLines(10_000);
    const path = await writeConfig(
      dir,
      config(
        dir,
        `
type: splunk-hec
url: http://127.0.0.1:${fb.port}
token: \${HEC_TOKEN}
index: security
source: hitship
host: node-eu-1
max_hits: 700
`,
      ),
    );
    const run = await runCli(["run", "--config", path], {
      stdin: hits.join("\n") + "\n",
      env: { HEC_TOKEN: TOKEN },
    });
    assert.equal(run.code, 0, run.stderr);
    await fb.received(10_000);
    const records = fb.records as unknown as HecRecord[];
    for (const record of records) {
      assert.equal(record.time, Number(record.event.time));
      assert.equal(record.sourcetype, "wallarm:hit");
      assert.equal(record.index, "security");
      assert.equal(record.source, "hitship");
      assert.equal(record.host, "node-eu-1");
    }
    assertEachOnce(records.map((r) => r.event), hits);
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test(
  needsFluentBit("splunk-hec output: Fluent Bit stopped mid-run and started again loses nothing"),
  async () => {
    await using fb = await FluentBit.start("splunk", { splunk_token: TOKEN });
    const dir = await Deno.makeTempDir();
    const hits = hitLines(10_000);
    const path = await writeConfig(
      dir,
      config(
        dir,
        `
type: splunk-hec
url: http://127.0.0.1:${fb.port}
token: ${TOKEN}
max_hits: 200
interval: 100ms
retry: { cycles: [[200ms]], then_every: 200ms }
`,
      ),
    );
    const { code, stderr } = await runThroughRestart(path, hits, fb);
    assert.equal(code, 0, stderr);
    await fb.received(10_000);
    assertEachOnce((fb.records as unknown as HecRecord[]).map((r) => r.event), hits, false);
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test(
  needsFluentBit(
    "splunk-hec output: a wrong token is HEC's own error in the log and the status, and auto-disables it",
  ),
  async () => {
    await using fb = await FluentBit.start("splunk", { splunk_token: TOKEN });
    const dir = await Deno.makeTempDir();
    const path = await writeConfig(
      dir,
      config(
        dir,
        `
type: splunk-hec
url: http://127.0.0.1:${fb.port}
token: not-the-token-31
retry: { cycles: [[50ms]], then_every: 50ms }
auto_disable: { min_requests: 3 }
`,
      ),
    );
    const run = await runCli(["run", "--config", path], { stdin: hitLines(3).join("\n") + "\n" });
    assert.equal(run.code, 1);
    const error = "HEC code 4: Invalid token (check token) [HTTP 403]";
    assert.ok(
      logRecords(run.stderr).some((r) => r.msg === `Output "out" request failed: ${error}`),
    );
    const status = await statusIn(dir);
    assert.equal(status.outputs.out.state, "auto_disabled");
    assert.equal(status.outputs.out.last_error, error);
    assert.ok(!run.stderr.includes("not-the-token-31"));
    assert.equal(fb.records.length, 0);
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test("splunk-hec output with ack: a batch is delivered once HEC acknowledges it; one never acknowledged is sent again", async () => {
  await using intake = await startIntake();
  let ackId = 0;
  const polls = new Map<number, number>();
  intake.answer((request) => {
    if (request.headers.get("authorization") !== `Splunk ${TOKEN}`) {
      return { status: 403, body: { text: "Invalid token", code: 4 } };
    }
    const channel = request.headers.get("x-splunk-request-channel");
    if (
      !channel || request.query.get("channel") !== null && request.query.get("channel") !== channel
    ) {
      return { status: 400, body: { text: "Data channel is missing", code: 10 } };
    }
    if (request.path === "/services/collector/event") {
      return { status: 200, body: { text: "Success", code: 0, ackId: ackId++ } };
    }
    const [id] = JSON.parse(request.text).acks as number[];
    const n = (polls.get(id!) ?? 0) + 1;
    polls.set(id!, n);
    // The first batch is never acknowledged; the others after their third poll.
    return { status: 200, body: { acks: { [String(id)]: id !== 0 && n >= 3 } } };
  });
  const dir = await Deno.makeTempDir();
  const hits = hitLines(30);
  const path = await writeConfig(
    dir,
    config(
      dir,
      `
type: splunk-hec
url: ${intake.url}
token: ${TOKEN}
ack: true
ack_poll: 10ms
ack_timeout: 1s
max_hits: 10
retry: { cycles: [[50ms]], then_every: 50ms }
`,
    ),
  );
  const run = await runCli(["run", "--config", path], { stdin: hits.join("\n") + "\n" });
  assert.equal(run.code, 0, run.stderr);
  const posts = intake.requests.filter((r) => r.path === "/services/collector/event");
  assert.equal(posts.length, 4, "three batches, the first one twice");
  assert.equal(posts[0]!.text, posts[1]!.text, "sent again as it was");
  assert.ok(
    logRecords(run.stderr).some((r) =>
      /No indexer acknowledgement within 1s; sent again/.test(r.msg)
    ),
  );
  const events = posts.slice(1).flatMap((r) =>
    r.text.replaceAll("}{", "}\n{").split("\n").map((e) => JSON.parse(e).event)
  );
  assertEachOnce(events, hits);
  const status = await statusIn(dir);
  assert.equal(status.outputs.out.delivered_hits, 30);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("splunk-hec output: an event HEC names invalid goes to the dead-letter file; the rest of its batch is sent again", async () => {
  await using intake = await startIntake();
  intake.answer((_request, n) =>
    n === 0
      ? { status: 400, body: { text: "Invalid data format", code: 6, "invalid-event-number": 2 } }
      : { status: 200, body: { text: "Success", code: 0 } }
  );
  const dir = await Deno.makeTempDir();
  const hits = hitLines(5);
  const path = await writeConfig(
    dir,
    config(
      dir,
      `type: splunk-hec\nurl: ${intake.url}\ntoken: ${TOKEN}\nretry: { cycles: [[50ms]], then_every: 50ms }`,
    ),
  );
  const run = await runCli(["run", "--config", path], { stdin: hits.join("\n") + "\n" });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(intake.requests.length, 2);
  const second = intake.requests[1]!.text.replaceAll("}{", "}\n{").split("\n").map((e) =>
    JSON.stringify(JSON.parse(e).event)
  );
  assert.deepEqual(second, [hits[0], hits[1], hits[3], hits[4]]);
  const dead = JSON.parse((await Deno.readTextFile(`${dir}/data/dead-letter.ndjson`)).trim());
  assert.equal(dead.raw, hits[2]);
  assert.equal(dead.output, "out");
  assert.equal(dead.reason, "HEC code 6: Invalid data format [HTTP 400]");
  const status = await statusIn(dir);
  assert.equal(status.outputs.out.delivered_hits, 4);
  assert.equal(status.outputs.out.rejected_hits, 1);
  await Deno.remove(dir, { recursive: true });
});
