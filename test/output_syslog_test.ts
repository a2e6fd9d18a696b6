/**
 * `syslog` end to end: the real CLI into Debian's rsyslog (imtcp with octet counting, imudp,
 * TLS through rsyslog-gnutls) for every format, through a restart; into Fluent Bit's `syslog`
 * input (newline framing, RFC 5424 parser). Each message's MSG (CEF: `msg=`, LEEF: `hit=`)
 * parses back to the hit that was sent.
 */
import assert from "node:assert/strict";
import { FluentBit, needsFluentBit } from "./fluent_bit.ts";
import { needsRsyslog, Rsyslog, type SyslogRecord } from "./rsyslog.ts";
import { logRecords, makeTestCertificate, runCli, statusIn, writeConfig } from "./helpers.ts";
import { assertEachOnce, hitLines, oneOutput as config, runThroughRestart } from "./outputs.ts";

/** The hit inside a message, by format. */
function hitOf(record: SyslogRecord, format: string): Record<string, unknown> {
  const msg = record.msg.trim();
  if (format === "cef") {
    const at = msg.indexOf(" msg=");
    const value = msg.slice(at + 5).replace(
      /\\(.)/g,
      (_m, c) => c === "n" ? "\n" : c === "r" ? "\r" : c,
    );
    return JSON.parse(value);
  }
  if (format === "leef") {
    const field = msg.replaceAll("#011", "\t").split("\t").find((f) => f.startsWith("hit="))!;
    return JSON.parse(field.slice(4));
  }
  return JSON.parse(msg);
}

async function ship(
  fields: string,
  hits: string[],
): Promise<{ code: number; stderr: string; dir: string }> {
  const dir = await Deno.makeTempDir();
  const path = await writeConfig(dir, config(dir, `type: syslog\n${fields}`));
  const run = await runCli(["run", "--config", path], { stdin: hits.join("\n") + "\n" });
  return { code: run.code, stderr: run.stderr, dir };
}

Deno.test(
  needsRsyslog(
    "syslog output: RFC 5424 over TCP with octet counting, 10,000 hits to rsyslog; MSG parses back, key fields as structured data",
  ),
  async () => {
    await using rs = await Rsyslog.start();
    const hits = hitLines(10_000);
    const { code, stderr, dir } = await ship(
      `address: 127.0.0.1:${rs.tcpPort}\nhostname: node-eu-1\nfacility: local3`,
      hits,
    );
    assert.equal(code, 0, stderr);
    const records = await rs.received(10_000);
    for (const record of records) {
      const hit = hitOf(record, "rfc5424");
      assert.equal(record.app, "wallarm");
      assert.equal(record.host, "node-eu-1");
      assert.equal(Number(record.pri), 19 * 8 + (hit.block_status === "blocked" ? 4 : 5));
      assert.equal(Date.parse(record.time) / 1000, Number(hit.time));
      assert.ok(record.sd.startsWith(`[hit@32473 request_id="${hit.request_id}" ip="${hit.ip}"`));
      assert.ok(record.sd.includes(`attack_type="${hit.attack_type}"`));
    }
    assertEachOnce(records.map((r) => hitOf(r, "rfc5424")), hits);
    await Deno.remove(dir, { recursive: true });
  },
);

for (const format of ["cef", "leef", "rfc3164"] as const) {
  Deno.test(
    needsRsyslog(`syslog output: ${format} over TCP, 10,000 hits to rsyslog, each parses back`),
    async () => {
      await using rs = await Rsyslog.start();
      const hits = hitLines(10_000);
      const { code, stderr, dir } = await ship(
        `address: 127.0.0.1:${rs.tcpPort}\nformat: ${format}\nframing: newline`,
        hits,
      );
      assert.equal(code, 0, stderr);
      const records = await rs.received(10_000);
      if (format === "cef") {
        for (const record of records.slice(0, 100)) {
          const hit = hitOf(record, "cef");
          assert.match(
            record.msg.trim(),
            new RegExp(`^CEF:0\\|Wallarm\\|hitship\\|[0-9.]+\\|${hit.attack_type}\\|`),
          );
          assert.ok(record.msg.includes(` cs1Label=request_id cs1=${hit.request_id} `));
          assert.ok(record.msg.includes(` src=${hit.ip} `));
        }
      }
      if (format === "leef") {
        for (const record of records.slice(0, 100)) {
          assert.match(record.msg.trim(), /^LEEF:1\.0\|Wallarm\|hitship\|/);
        }
      }
      assertEachOnce(records.map((r) => hitOf(r, format)), hits);
      await Deno.remove(dir, { recursive: true });
    },
  );
}

Deno.test(
  needsRsyslog(
    "syslog output: RFC 5424 over UDP, 10,000 hits to rsyslog; a message over max_message_bytes is refused whole",
  ),
  async () => {
    await using rs = await Rsyslog.start();
    const hits = hitLines(10_000);
    const big = JSON.parse(hits[0]!);
    big.payload = ["x".repeat(9000)];
    const { code, stderr, dir } = await ship(
      `address: 127.0.0.1:${rs.udpPort}\ntransport: udp`,
      [JSON.stringify(big), ...hits],
    );
    assert.equal(code, 0, stderr);
    const records = await rs.received(10_000);
    assertEachOnce(records.map((r) => hitOf(r, "rfc5424")), hits);
    const dead = JSON.parse((await Deno.readTextFile(`${dir}/data/dead-letter.ndjson`)).trim());
    assert.equal(dead.output, "out");
    assert.match(
      dead.reason,
      /^\d+ bytes as a syslog message, over max_message_bytes \(8192\); not cut$/,
    );
    const status = await statusIn(dir);
    assert.equal(status.outputs.out.rejected_hits, 1);
    assert.equal(status.outputs.out.delivered_hits, 10_000);
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test(
  needsRsyslog(
    "syslog output: RFC 5424 over TLS to rsyslog-gnutls, 10,000 hits; a CA that did not sign it is a clear error that auto-disables",
  ),
  async () => {
    const certs = await Deno.makeTempDir();
    const cert = await makeTestCertificate(certs);
    await using rs = await Rsyslog.start(cert);
    const hits = hitLines(10_000);
    const { code, stderr, dir } = await ship(
      `address: 127.0.0.1:${rs.tcpPort}\ntransport: tls\ntls: { ca_file: ${cert.ca} }`,
      hits,
    );
    assert.equal(code, 0, stderr);
    const records = await rs.received(10_000);
    assertEachOnce(records.map((r) => hitOf(r, "rfc5424")), hits);
    await Deno.remove(dir, { recursive: true });

    await Deno.mkdir(`${certs}/other`);
    const other = await makeTestCertificate(`${certs}/other`);
    const wrong = await ship(
      `address: 127.0.0.1:${rs.tcpPort}\ntransport: tls\ntls: { ca_file: ${other.ca} }\n` +
        `retry: { cycles: [[50ms]], then_every: 50ms }\nauto_disable: { min_requests: 3 }`,
      hitLines(2),
    );
    assert.equal(wrong.code, 1);
    const status = await statusIn(wrong.dir);
    assert.equal(status.outputs.out.state, "auto_disabled");
    assert.match(
      status.outputs.out.last_error,
      /^Cannot send to 127\.0\.0\.1:\d+ over tls: .*(certificate|UnknownIssuer)/i,
    );
    assert.ok(logRecords(wrong.stderr).some((r) => r.msg === 'Output "out" auto-disabled'));
    await Deno.remove(wrong.dir, { recursive: true });
    await Deno.remove(certs, { recursive: true });
  },
);

Deno.test(
  needsRsyslog("syslog output: rsyslog stopped mid-run and started again loses nothing"),
  async () => {
    await using rs = await Rsyslog.start();
    const dir = await Deno.makeTempDir();
    const hits = hitLines(10_000);
    const path = await writeConfig(
      dir,
      config(
        dir,
        `
type: syslog
address: 127.0.0.1:${rs.tcpPort}
max_hits: 200
interval: 100ms
retry: { cycles: [[200ms]], then_every: 200ms }
`,
      ),
    );
    const { code, stderr } = await runThroughRestart(path, hits, rs);
    assert.equal(code, 0, stderr);
    assert.ok(logRecords(stderr).some((r) => /Connection refused/.test(r.msg)));
    const records = await rs.received(10_000);
    assertEachOnce(records.map((r) => hitOf(r, "rfc5424")), hits, false);
    await Deno.remove(dir, { recursive: true });
  },
);

const RFC5424_PARSER = `[PARSER]
    Name    syslog-rfc5424
    Format  regex
    Regex   ^\\<(?<pri>[0-9]{1,5})\\>1 (?<time>[^ ]+) (?<host>[^ ]+) (?<ident>[^ ]+) (?<pid>[-0-9]+) (?<msgid>[^ ]+) (?<extradata>(\\[(.*?)\\]|-)) (?<message>.+)$
`;

Deno.test(
  needsFluentBit(
    "syslog output: RFC 5424 with newline framing, 10,000 hits to Fluent Bit's syslog input",
  ),
  async () => {
    const dir = await Deno.makeTempDir();
    await Deno.writeTextFile(`${dir}/parsers.conf`, RFC5424_PARSER);
    await using fb = await FluentBit.start("syslog", { mode: "tcp", parser: "syslog-rfc5424" }, {
      args: ["-R", `${dir}/parsers.conf`],
    });
    const hits = hitLines(10_000);
    const path = await writeConfig(
      dir,
      config(
        dir,
        `type: syslog\naddress: 127.0.0.1:${fb.port}\nframing: newline\nhostname: node-2`,
      ),
    );
    const run = await runCli(["run", "--config", path], { stdin: hits.join("\n") + "\n" });
    assert.equal(run.code, 0, run.stderr);
    await fb.received(10_000);
    const records = fb.records as Array<Record<string, string>>;
    for (const record of records.slice(0, 100)) {
      assert.equal(record.host, "node-2");
      assert.equal(record.ident, "wallarm");
      assert.equal(record.msgid, "hit");
    }
    assertEachOnce(records.map((r) => JSON.parse(r.message!)), hits);
    await Deno.remove(dir, { recursive: true });
  },
);
