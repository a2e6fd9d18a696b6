/**
 * The `http` input end to end, with curl as the client: what the shippers send (NDJSON, a JSON
 * array, one hit, gzip), every error answer, a full journal answering 503 and recovering, the
 * token, HTTPS with a test CA, and two inputs at once with their own counters.
 */
import assert from "node:assert/strict";
import {
  freePort,
  listening,
  makeTestCertificate,
  readExports,
  spawnCli,
  statusIn,
  until,
  writeConfig,
} from "./helpers.ts";
import { makeHit } from "./hits.ts";
import { startReceiver } from "./receiver.ts";

const dec = new TextDecoder();

function hitsFrom(start: number, n: number): string[] {
  return Array.from({ length: n }, (_, i) => JSON.stringify(makeHit(start + i)));
}

/** curl: the status, and the body as JSON when it is JSON. */
async function curl(args: string[]): Promise<{ status: number; body: unknown; text: string }> {
  const out = await new Deno.Command("curl", {
    args: ["-s", "-o", "-", "-w", "\n%{http_code}", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = dec.decode(out.stdout);
  const cut = text.lastIndexOf("\n");
  const bodyText = text.slice(0, cut);
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    body = undefined;
  }
  return { status: Number(text.slice(cut + 1)), body, text: bodyText + dec.decode(out.stderr) };
}

Deno.test("http input: NDJSON, a JSON array, one hit and gzip from curl arrive in order, answered once journaled", async () => {
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
input: { type: http, listen: "127.0.0.1:${port}" }
outputs: [{ name: local, type: file, path: ${dir}/out, format: jsonl, interval: 1h }]
`,
  );
  const child = spawnCli(["run", "--config", config]);
  child.stdin.close();
  await listening(port);
  const url = `http://127.0.0.1:${port}/hits`;
  const ndjson = hitsFrom(0, 300);
  await Deno.writeTextFile(`${dir}/a.ndjson`, ndjson.join("\n") + "\nnot a hit\n");
  const a = await curl([
    "-H",
    "Content-Type: application/x-ndjson",
    "--data-binary",
    `@${dir}/a.ndjson`,
    url,
  ]);
  assert.equal(a.status, 200, a.text);
  assert.deepEqual(a.body, {
    accepted: 300,
    rejected: 1,
    errors: [{
      line: 301,
      reason: "not valid JSON: Unexpected token 'o', \"not a hit\" is not valid JSON",
    }],
  });
  // Answered once journaled: the journal on disk holds the 300 lines already.
  const segments = [...Deno.readDirSync(`${dir}/data/journal`)].filter((e) =>
    e.name.endsWith(".ndjson")
  );
  let journaled = 0;
  for (const segment of segments) {
    const text = await Deno.readTextFile(`${dir}/data/journal/${segment.name}`);
    journaled += text.split("\n").filter((l) => l.startsWith("{")).length;
  }
  assert.equal(journaled, 300);
  const array = hitsFrom(300, 50).map((h) => JSON.parse(h));
  // Elements go on as they are written: a 64-bit integer keeps its digits, a key twice is told.
  const big = `{"big": 12345678901234567890, "s": "],[{", ${
    JSON.stringify(makeHit(1000)).slice(1)
  }`;
  const twice = `{"status_code":"abc",${JSON.stringify(makeHit(1001)).slice(1)}`;
  await Deno.writeTextFile(
    `${dir}/b.json`,
    `[\n${array.map((h) => JSON.stringify(h, null, 2)).join(",\n")},\n${big},\n  ${twice}\n]\n`,
  );
  const b = await curl([
    "-H",
    "Content-Type: application/json",
    "--data-binary",
    `@${dir}/b.json`,
    url,
  ]);
  assert.deepEqual(b.body, {
    accepted: 51,
    rejected: 1,
    errors: [{ line: 52, reason: "status_code: appears twice in one object" }],
  });
  const one = makeHit(350);
  await Deno.writeTextFile(`${dir}/c.json`, JSON.stringify(one, null, 2));
  const c = await curl([
    "-H",
    "Content-Type: application/json",
    "--data-binary",
    `@${dir}/c.json`,
    url,
  ]);
  assert.deepEqual(c.body, { accepted: 1, rejected: 0, errors: [] });
  const gz = hitsFrom(351, 100);
  await Deno.writeTextFile(`${dir}/d.ndjson`, gz.join("\n"));
  await new Deno.Command("gzip", { args: ["-k", `${dir}/d.ndjson`] }).output();
  const d = await curl([
    "-H",
    "Content-Type: application/x-ndjson",
    "-H",
    "Content-Encoding: gzip",
    "--data-binary",
    `@${dir}/d.ndjson.gz`,
    url,
  ]);
  assert.deepEqual(d.body, { accepted: 100, rejected: 0, errors: [] });
  child.kill("SIGTERM");
  const out = await child.output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  const files = [...Deno.readDirSync(`${dir}/out`)].map((e) => e.name).filter((n) =>
    n.endsWith(".jsonl")
  );
  const shipped = (await Promise.all(files.map((f) => Deno.readTextFile(`${dir}/out/${f}`))))
    .join("").trim().split("\n");
  // NDJSON byte-exact; the array's elements and the pretty hit as written, on one line each.
  assert.deepEqual(shipped.slice(0, 300), ndjson);
  assert.deepEqual(shipped.slice(300, 350).map((l) => JSON.parse(l)), array);
  assert.equal(shipped[350], big);
  assert.deepEqual(JSON.parse(shipped[351]!), one);
  assert.deepEqual(shipped.slice(352), gz);
});

Deno.test("http input: the error answers: 401, 404, 405, 413, 415, 400, and a health answer", async () => {
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
input: { type: http, listen: "127.0.0.1:${port}", auth_token: "\${TOKEN}", max_body_bytes: 4KiB }
outputs: [{ name: local, type: file, path: ${dir}/out }]
`,
  );
  const child = spawnCli(["run", "--config", config], { env: { TOKEN: "t0ken-42" } });
  child.stdin.close();
  await listening(port);
  const url = `http://127.0.0.1:${port}/hits`;
  const auth = ["-H", "Authorization: Bearer t0ken-42"];
  const nd = ["-H", "Content-Type: application/x-ndjson"];
  const hit = hitsFrom(0, 1)[0]!;
  assert.equal((await curl([...nd, "--data-binary", hit, url])).status, 401, "no token");
  assert.equal(
    (await curl(["-H", "Authorization: Bearer wrong", ...nd, "--data-binary", hit, url])).status,
    401,
    "a wrong token",
  );
  assert.equal((await curl([...auth, ...nd, "--data-binary", hit, url])).status, 200);
  assert.equal(
    (await curl([...auth, ...nd, "--data-binary", hit, `http://127.0.0.1:${port}/other`])).status,
    404,
  );
  assert.equal((await curl([...auth, "-X", "DELETE", url])).status, 405);
  await Deno.writeTextFile(`${dir}/big.ndjson`, hitsFrom(0, 20).join("\n"));
  assert.equal(
    (await curl([...auth, ...nd, "--data-binary", `@${dir}/big.ndjson`, url])).status,
    413,
  );
  // A small gzip that unpacks past the limit.
  await Deno.writeTextFile(`${dir}/bomb`, `{"pad":"${"x".repeat(100_000)}"}`);
  await new Deno.Command("gzip", { args: ["-k", `${dir}/bomb`] }).output();
  const bomb = await curl([
    ...auth,
    ...nd,
    "-H",
    "Content-Encoding: gzip",
    "--data-binary",
    `@${dir}/bomb.gz`,
    url,
  ]);
  assert.equal(bomb.status, 413, bomb.text);
  assert.equal((await curl([...auth, "--data", "a=b", url])).status, 415, "a form");
  assert.equal(
    (await curl([...auth, ...nd, "-H", "Content-Encoding: gzip", "--data-binary", "not gzip", url]))
      .status,
    400,
  );
  const text = await curl([...auth, ...nd, "--data-binary", "hello world", url]);
  assert.equal(text.status, 400);
  assert.match(text.text, /neither JSON nor NDJSON/);
  const health = await curl([`http://127.0.0.1:${port}/health`]);
  assert.deepEqual([health.status, health.body], [200, { status: "ok" }]);
  child.kill("SIGTERM");
  const out = await child.output();
  assert.equal(out.code, 0);
  assert.ok(!dec.decode(out.stderr).includes("t0ken-42"), "the token is never logged");
});

Deno.test("http input: a full journal answers 503 with Retry-After, and takes hits again once outputs catch up", async () => {
  const dir = await Deno.makeTempDir();
  const port = freePort();
  await using receiver = await startReceiver();
  let open = false;
  receiver.behave(() => (open ? "accept" : "error"));
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
max_journal_bytes: 64KiB
journal_segment_bytes: 16KiB
input: { type: http, listen: "127.0.0.1:${port}" }
outputs:
  - name: soar
    type: insightconnect
    api_url: ${receiver.url}
    api_key: ${receiver.key}
    max_hits_per_request: 100
    retry: { cycles: [[100ms]], then_every: 100ms }
    auto_disable: { min_requests: 100000 }
`,
  );
  const child = spawnCli(["run", "--config", config]);
  child.stdin.close();
  await listening(port);
  const url = `http://127.0.0.1:${port}/hits`;
  const accepted: string[] = [];
  let full: { status: number; text: string } | undefined;
  for (let round = 0; round < 40 && !full; round++) {
    const hits = hitsFrom(round * 20, 20);
    await Deno.writeTextFile(`${dir}/r.ndjson`, hits.join("\n"));
    const r = await curl([
      "-i",
      "-H",
      "Content-Type: application/x-ndjson",
      "--data-binary",
      `@${dir}/r.ndjson`,
      url,
    ]);
    if (r.status === 503) full = r;
    else {
      assert.equal(r.status, 200, r.text);
      accepted.push(...hits);
    }
  }
  assert.ok(full, "the journal filled up and the input said 503");
  assert.match(full!.text, /retry-after: 5/i);
  open = true; // the destination recovers: outputs catch up
  const more = hitsFrom(10_000, 20);
  await Deno.writeTextFile(`${dir}/m.ndjson`, more.join("\n"));
  let status = 503;
  for (let i = 0; i < 100 && status === 503; i++) {
    status = (await curl([
      "-H",
      "Content-Type: application/x-ndjson",
      "--data-binary",
      `@${dir}/m.ndjson`,
      url,
    ])).status;
    if (status === 503) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(status, 200);
  accepted.push(...more);
  await until(
    "all delivered",
    () => receiver.delivered().length === accepted.length,
  );
  child.kill("SIGTERM");
  assert.equal((await child.output()).code, 0);
  const delivered = receiver.delivered();
  assert.deepEqual(
    delivered,
    accepted.map((h) => JSON.parse(h)),
    "every accepted hit, once, in order",
  );
});

Deno.test("http input: HTTPS with a test CA; curl verifies the certificate", async () => {
  const dir = await Deno.makeTempDir();
  const tls = await makeTestCertificate(dir);
  const port = freePort();
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
input: { type: http, listen: "127.0.0.1:${port}", tls: { cert_file: ${tls.cert}, key_file: ${tls.key} } }
outputs: [{ name: local, type: file, path: ${dir}/out }]
`,
  );
  const child = spawnCli(["run", "--config", config]);
  child.stdin.close();
  await listening(port);
  const hits = hitsFrom(0, 10);
  await Deno.writeTextFile(`${dir}/h.ndjson`, hits.join("\n"));
  const url = `https://127.0.0.1:${port}/hits`;
  const args = [
    "-H",
    "Content-Type: application/x-ndjson",
    "--data-binary",
    `@${dir}/h.ndjson`,
    url,
  ];
  assert.notEqual((await curl(args)).status, 200, "not without the CA");
  const ok = await curl(["--cacert", tls.ca, ...args]);
  assert.deepEqual([ok.status, ok.body], [200, { accepted: 10, rejected: 0, errors: [] }]);
  child.kill("SIGTERM");
  assert.equal((await child.output()).code, 0);
  assert.deepEqual(await readExports(`${dir}/out`), hits.map((h) => JSON.parse(h)));
});

Deno.test("two inputs at once, a file and http: separate counters in the status and the metrics", async () => {
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const metrics = freePort();
  const fromFile = hitsFrom(0, 40);
  await Deno.writeTextFile(`${dir}/node.ndjson`, fromFile.join("\n") + "\nbroken\n");
  const config = await writeConfig(
    dir,
    `data_dir: ${dir}/data
http: { listen: "127.0.0.1:${metrics}" }
inputs:
  - { name: node, type: file, path: ${dir}/node.ndjson, poll_interval: 50ms }
  - { name: shippers, type: http, listen: "127.0.0.1:${port}" }
outputs: [{ name: local, type: file, path: ${dir}/out, max_hits: 10 }]
`,
  );
  const child = spawnCli(["run", "--config", config]);
  child.stdin.close();
  await listening(port);
  const fromHttp = hitsFrom(1000, 25);
  await Deno.writeTextFile(`${dir}/h.ndjson`, fromHttp.join("\n"));
  const r = await curl([
    "-H",
    "Content-Type: application/x-ndjson",
    "--data-binary",
    `@${dir}/h.ndjson`,
    `http://127.0.0.1:${port}/hits`,
  ]);
  assert.equal(r.status, 200);
  await until("both read", async () => (await statusIn(`${dir}/data`))?.input?.hits === 65);
  const status = await statusIn(`${dir}/data`);
  assert.deepEqual(
    Object.fromEntries(
      Object.entries(
        status.inputs as Record<string, { hits: number; rejected: number; type: string }>,
      )
        .map(([name, i]) => [name, [i.type, i.hits, i.rejected]]),
    ),
    { node: ["file", 40, 1], shippers: ["http", 25, 0] },
  );
  const text = (await curl([`http://127.0.0.1:${metrics}/metrics`])).text;
  assert.match(text, /hitship_input_hits_total\{input="node",type="file"\} 40/);
  assert.match(text, /hitship_input_hits_total\{input="shippers",type="http"\} 25/);
  child.kill("SIGTERM");
  assert.equal((await child.output()).code, 0);
  const shipped = (await readExports(`${dir}/out`)).map((h) => JSON.stringify(h));
  assert.deepEqual(
    shipped.toSorted(),
    [...fromFile, ...fromHttp].map((h) => JSON.stringify(JSON.parse(h))).toSorted(),
  );
});
