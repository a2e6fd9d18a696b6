/**
 * `elasticsearch` end to end: the real CLI into Fluent Bit's `elasticsearch` input (a real Bulk
 * API receiver), through a restart; a local bulk endpoint for item-by-item answers (429, 409,
 * mapping errors) and credentials.
 */
import assert from "node:assert/strict";
import { FluentBit, needsFluentBit } from "./fluent_bit.ts";
import { type IntakeRequest, startIntake } from "./intake.ts";
import { logRecords, runCli, statusIn, writeConfig } from "./helpers.ts";
import { assertEachOnce, hitLines, oneOutput as config, runThroughRestart } from "./outputs.ts";

type Meta = { "@meta": { create: { _index: string; _id: string } } };

function withoutMeta(record: Record<string, unknown>): Record<string, unknown> {
  const { "@meta": _, ...hit } = record;
  return hit;
}

function indexOf(hit: { time: string }): string {
  const d = new Date(Number(hit.time) * 1000);
  const two = (n: number) => String(n).padStart(2, "0");
  return `waf-${d.getUTCFullYear()}.${two(d.getUTCMonth() + 1)}.${two(d.getUTCDate())}`;
}

Deno.test(
  needsFluentBit(
    "elasticsearch output: 10,000 hits reach Fluent Bit's Bulk API as create actions, each once, with a stable _id",
  ),
  async () => {
    await using fb = await FluentBit.start("elasticsearch");
    const dir = await Deno.makeTempDir();
    const hits = hitLines(10_000);
    const path = await writeConfig(
      dir,
      config(dir, `type: elasticsearch\nurl: http://127.0.0.1:${fb.port}\nindex: waf-%Y.%m.%d`),
    );
    const run = await runCli(["run", "--config", path], { stdin: hits.join("\n") + "\n" });
    assert.equal(run.code, 0, run.stderr);
    await fb.received(10_000);
    const records = fb.records as Array<Record<string, unknown> & Meta>;
    const ids = new Set<string>();
    for (const record of records) {
      const { _index, _id } = record["@meta"].create;
      assert.equal(_index, indexOf(record as unknown as { time: string }));
      assert.match(_id, /^[A-Za-z0-9_-]{43}$/);
      ids.add(_id);
    }
    assert.equal(ids.size, 10_000);
    assertEachOnce(records.map(withoutMeta), hits);
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test(
  needsFluentBit(
    "elasticsearch output: Fluent Bit stopped mid-run and started again loses nothing; a hit sent twice has the same _id",
  ),
  async () => {
    await using fb = await FluentBit.start("elasticsearch");
    const dir = await Deno.makeTempDir();
    const hits = hitLines(10_000);
    const path = await writeConfig(
      dir,
      config(
        dir,
        `
type: elasticsearch
url: http://127.0.0.1:${fb.port}
max_hits: 200
interval: 100ms
retry: { cycles: [[200ms]], then_every: 200ms }
`,
      ),
    );
    const { code, stderr } = await runThroughRestart(path, hits, fb);
    assert.equal(code, 0, stderr);
    await fb.received(10_000);
    const records = fb.records as Array<Record<string, unknown> & Meta>;
    const idOf = new Map<string, string>();
    for (const record of records) {
      const id = record["@meta"].create._id;
      const key = record.request_id as string;
      assert.equal(idOf.get(key) ?? id, id, "a hit sent again has the same _id");
      idOf.set(key, id);
    }
    assertEachOnce(records.map(withoutMeta), hits, false);
    await Deno.remove(dir, { recursive: true });
  },
);

/** A bulk endpoint that answers each item by a rule, and remembers each document once. */
function bulkAnswer(rule: (hit: Record<string, unknown>, attempt: number) => number) {
  const attempts = new Map<string, number>();
  const stored = new Map<string, Record<string, unknown>>();
  const answer = (request: IntakeRequest) => {
    if (request.headers.get("authorization") !== `ApiKey ${"a2V5OnNlY3JldA=="}`) {
      return {
        status: 401,
        body: { error: { type: "security_exception", reason: "unable to authenticate" } },
      };
    }
    const lines = request.text.split("\n").filter(Boolean);
    const items = [];
    for (let i = 0; i < lines.length; i += 2) {
      const id = JSON.parse(lines[i]!).create._id as string;
      const hit = JSON.parse(lines[i + 1]!);
      const attempt = (attempts.get(id) ?? 0) + 1;
      attempts.set(id, attempt);
      const status = stored.has(id) ? 409 : rule(hit, attempt);
      if (status === 201) stored.set(id, hit);
      const error = status === 409
        ? { type: "version_conflict_engine_exception", reason: "document already exists" }
        : status === 400
        ? { type: "mapper_parsing_exception", reason: "failed to parse field [status_code]" }
        : status === 429
        ? { type: "es_rejected_execution_exception", reason: "rejected execution" }
        : undefined;
      items.push({ create: { _id: id, status, ...(error ? { error } : {}) } });
    }
    return {
      status: 200,
      body: { took: 1, errors: items.some((i) => i.create.status >= 300), items },
    };
  };
  return { answer, stored, attempts };
}

Deno.test("elasticsearch output: the bulk answer item by item: 429 sent again alone, 409 delivered, a mapping error to the dead-letter file", async () => {
  await using intake = await startIntake();
  const hits = hitLines(40);
  const refusedIds = new Set(
    hits.filter((_h, i) => i % 10 === 3).map((h) => JSON.parse(h).request_id),
  );
  const bulk = bulkAnswer((hit, attempt) =>
    refusedIds.has(hit.request_id as string)
      ? 400
      : attempt === 1 && Number(hit.status_code) === 404
      ? 429
      : 201
  );
  intake.answer(bulk.answer);
  const dir = await Deno.makeTempDir();
  const path = await writeConfig(
    dir,
    config(
      dir,
      `
type: elasticsearch
url: ${intake.url}
auth: { type: api_key, api_key: "a2V5OnNlY3JldA==" }
retry: { cycles: [[50ms]], then_every: 50ms }
`,
    ),
  );
  // The same hits twice: the second run's documents exist already (409), none is stored twice.
  const run = await runCli(["run", "--config", path], { stdin: hits.join("\n") + "\n" });
  assert.equal(run.code, 0, run.stderr);
  const retried = hits.filter((h) =>
    JSON.parse(h).status_code === 404 && !refusedIds.has(JSON.parse(h).request_id)
  );
  assert.ok(retried.length > 0);
  const second = intake.requests[1]!.text.split("\n").filter(Boolean).filter((_l, i) =>
    i % 2 === 1
  );
  assert.deepEqual(second, retried, "only the items that failed with 429 go again");
  assertEachOnce(
    [...bulk.stored.values()],
    hits.filter((h) => !refusedIds.has(JSON.parse(h).request_id)),
  );
  const dead = (await Deno.readTextFile(`${dir}/data/dead-letter.ndjson`)).trim().split("\n").map((
    l,
  ) => JSON.parse(l));
  assert.deepEqual(
    dead.map((d) => d.raw).sort(),
    hits.filter((h) => refusedIds.has(JSON.parse(h).request_id)).sort(),
  );
  assert.equal(
    dead[0].reason,
    "HTTP 400 mapper_parsing_exception: failed to parse field [status_code]",
  );
  let status = await statusIn(dir);
  assert.equal(status.outputs.out.delivered_hits, 40 - refusedIds.size);
  assert.equal(status.outputs.out.rejected_hits, refusedIds.size);

  await Deno.remove(`${dir}/data`, { recursive: true });
  const again = await runCli(["run", "--config", path], { stdin: hits.join("\n") + "\n" });
  assert.equal(again.code, 0, again.stderr);
  assertEachOnce(
    [...bulk.stored.values()],
    hits.filter((h) => !refusedIds.has(JSON.parse(h).request_id)),
  );
  status = await statusIn(dir);
  assert.equal(
    status.outputs.out.delivered_hits,
    40 - refusedIds.size,
    "409: already there, delivered",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("elasticsearch output: wrong credentials are a clear error and auto-disable it", async () => {
  await using intake = await startIntake();
  intake.answer(bulkAnswer(() => 201).answer);
  const dir = await Deno.makeTempDir();
  const path = await writeConfig(
    dir,
    config(
      dir,
      `
type: elasticsearch
url: ${intake.url}
auth: { type: api_key, api_key: "d3Jvbmc6a2V5" }
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
    /^HTTP 401 Unauthorized: .*security_exception.* \(check auth\)$/,
  );
  assert.ok(logRecords(run.stderr).some((r) => r.msg === 'Output "out" auto-disabled'));
  assert.ok(!run.stderr.includes("d3Jvbmc6a2V5"));
  await Deno.remove(dir, { recursive: true });
});
