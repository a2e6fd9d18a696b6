/**
 * Debian's rsyslog as a real syslog receiver for the output tests: imtcp (octet counting and
 * newline framing), imudp, and TLS through rsyslog-gnutls; every message it takes written as one
 * JSON object (its parsed parts) to a file, read back here. Tests that need it are skipped with
 * the reason in their name when `rsyslogd` is absent.
 */
import { freePort, listening, until } from "./helpers.ts";

function find(): string | undefined {
  for (const path of ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The rsyslogd binary, or undefined. */
export const RSYSLOGD: string | undefined = find();

/** `name`, with the reason it is skipped when rsyslog is absent. */
export function needsRsyslog(name: string): { name: string; ignore: boolean } {
  return RSYSLOGD ? { name, ignore: false } : {
    name: `${name} (skipped: no rsyslogd; apt-get install rsyslog rsyslog-gnutls)`,
    ignore: true,
  };
}

/** A message as rsyslog parsed it. */
export interface SyslogRecord {
  msg: string;
  sd: string;
  app: string;
  host: string;
  pri: string;
  time: string;
  raw: string;
}

const TEMPLATE = `template(name="parts" type="list") {
  constant(value="{\\"msg\\":\\"") property(name="msg" format="json")
  constant(value="\\",\\"sd\\":\\"") property(name="structured-data" format="json")
  constant(value="\\",\\"app\\":\\"") property(name="app-name" format="json")
  constant(value="\\",\\"host\\":\\"") property(name="hostname" format="json")
  constant(value="\\",\\"pri\\":\\"") property(name="pri")
  constant(value="\\",\\"time\\":\\"") property(name="timereported" dateFormat="rfc3339")
  constant(value="\\",\\"raw\\":\\"") property(name="rawmsg" format="json")
  constant(value="\\"}\\n")
}`;

/** A running rsyslogd with a TCP (or TLS) and a UDP input on 127.0.0.1. */
export class Rsyslog {
  readonly tcpPort: number;
  readonly udpPort: number;
  readonly dir: string;
  readonly #tls: { ca: string; cert: string; key: string } | undefined;
  #process: Deno.ChildProcess | undefined;
  log = "";

  private constructor(dir: string, tls?: { ca: string; cert: string; key: string }) {
    this.dir = dir;
    this.tcpPort = freePort();
    this.udpPort = freePort();
    this.#tls = tls;
  }

  /** Starts rsyslogd; with `tls`, its TCP input speaks TLS with that certificate. */
  static async start(tls?: { ca: string; cert: string; key: string }): Promise<Rsyslog> {
    const dir = await Deno.makeTempDir({ prefix: "hitship-rsyslog-" });
    const rsyslog = new Rsyslog(dir, tls);
    await rsyslog.restart();
    return rsyslog;
  }

  get #config(): string {
    const tls = this.#tls;
    const global = tls
      ? `global(workDirectory="${this.dir}" maxMessageSize="64k"
  defaultNetstreamDriver="gtls"
  defaultNetstreamDriverCAFile="${tls.ca}"
  defaultNetstreamDriverCertFile="${tls.cert}"
  defaultNetstreamDriverKeyFile="${tls.key}")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")`
      : `global(workDirectory="${this.dir}" maxMessageSize="64k")
module(load="imtcp")`;
    return `${global}
input(type="imtcp" port="${this.tcpPort}" address="127.0.0.1")
module(load="imudp")
input(type="imudp" port="${this.udpPort}" address="127.0.0.1" rcvbufSize="8m")
${TEMPLATE}
*.* action(type="omfile" file="${this.dir}/out.ndjson" template="parts")
`;
  }

  /** Starts it again on the same ports (after {@linkcode Rsyslog.stop}). */
  async restart(): Promise<void> {
    await Deno.writeTextFile(`${this.dir}/rsyslog.conf`, this.#config);
    this.#process = new Deno.Command(RSYSLOGD!, {
      args: ["-n", "-f", `${this.dir}/rsyslog.conf`, "-i", `${this.dir}/rsyslogd.pid`],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const process = this.#process;
    const decoder = new TextDecoder();
    (async () => {
      for await (const chunk of process.stderr) this.log += decoder.decode(chunk);
    })();
    (async () => {
      for await (const chunk of process.stdout) this.log += decoder.decode(chunk);
    })();
    await listening(this.tcpPort);
  }

  /** What it wrote so far, a record per message. */
  async records(): Promise<SyslogRecord[]> {
    const text = await Deno.readTextFile(`${this.dir}/out.ndjson`).catch(() => "");
    return text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
  }

  /** Waits until it has written `count` messages. */
  async received(count: number, timeoutMs = 60_000): Promise<SyslogRecord[]> {
    let records: SyslogRecord[] = [];
    try {
      await until(`rsyslog wrote ${count} messages`, async () => {
        records = await this.records();
        return records.length >= count;
      }, timeoutMs / 50);
    } catch {
      throw new Error(
        `rsyslog wrote ${records.length} of ${count} messages in ${timeoutMs} ms; its log: ${this.log}`,
      );
    }
    return records;
  }

  /** Stops it with SIGTERM. */
  async stop(): Promise<void> {
    if (!this.#process) return;
    try {
      this.#process.kill("SIGTERM");
    } catch {
      // gone
    }
    await this.#process.status;
    this.#process = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
