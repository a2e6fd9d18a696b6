import assert from "node:assert/strict";
import { OutputHarness } from "@hitship/hitship/testing";
import ndjsonPost from "./ndjson_output.ts";

/** A hit as the node writes it. */
const hit = (n: number) =>
  JSON.stringify({
    time: "1687241470",
    request_id: `req-${n}`,
    ip: "203.0.113.7",
    datacenter: "unknown",
    tor: "none",
    remote_country: null,
    application_id: [-1],
    domain: "shop.example.com",
    method: "GET",
    uri: `/item?id=${n}' OR 1=1`,
    protocol: "http1",
    status_code: 403,
    attack_type: "sqli",
    block_status: "blocked",
    payload: ["' OR 1=1"],
    point: ["get", "id"],
    tags: { lom_id: 7 },
  });

Deno.test("ndjson-post: a receiver that answers 503 twice gets the batch on the node's schedule, 1 s then 3 s later", async () => {
  const answers = [503, 503];
  const received: string[] = [];
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const status = answers.shift() ?? 200;
      const text = await request.text();
      if (status === 200) received.push(...text.trim().split("\n"));
      return new Response(null, { status });
    },
  );
  const harness = await OutputHarness.start(ndjsonPost, {
    url: `http://127.0.0.1:${server.addr.port}/`,
  });
  const hits = [hit(1), hit(2), hit(3)];
  await harness.send(hits);
  await harness.settle();
  assert.deepEqual(received, hits);
  assert.equal(harness.status.delivered_hits, 3);
  assert.deepEqual(harness.requests.map((r) => r.result.ok), [false, false, true]);
  const [a, b, c] = harness.requests.map((r) => r.at);
  assert.deepEqual([b! - a!, c! - b!], [1000, 3000]);
  await harness.close();
});
