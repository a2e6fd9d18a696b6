/**
 * Fluent Bit 5.1.1 as a real receiver for the output tests: one input plugin (`-i http`,
 * `splunk`, `elasticsearch`, `syslog`, `forward`, `opentelemetry`) on 127.0.0.1, every record it
 * takes written to its stdout as JSON lines, read back here. Found through `FLUENT_BIT` or `PATH`;
 * tests that need it are skipped with the reason in their name when it is absent.
 */
import { freePort, listening, until } from "./helpers.ts";

function find(): string | undefined {
  const fromEnv = Deno.env.get("FLUENT_BIT");
  if (fromEnv) return fromEnv;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      const path = `${dir}/fluent-bit`;
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The Fluent Bit binary, or undefined. */
export const FLUENT_BIT: string | undefined = find();

/** `name`, with the reason it is skipped when Fluent Bit is absent. */
export function needsFluentBit(name: string): { name: string; ignore: boolean } {
  return FLUENT_BIT ? { name, ignore: false } : {
    name: `${name} (skipped: no Fluent Bit; set FLUENT_BIT or put fluent-bit on PATH)`,
    ignore: true,
  };
}

/** A running Fluent Bit with one input; what it received, record by record. */
export class FluentBit {
  readonly port: number;
  readonly #input: string;
  readonly #params: Record<string, string>;
  readonly #udp: boolean;
  readonly #args: string[];
  #dateKey: string | undefined;
  #process: Deno.ChildProcess | undefined;
  #done: Promise<void> = Promise.resolve();
  #text = "";
  /** Every JSON line it wrote (a record each), in order, across restarts. */
  readonly records: Array<Record<string, unknown>> = [];
  /** Its log (stderr), across restarts. */
  log = "";

  private constructor(
    input: string,
    params: Record<string, string>,
    port: number,
    udp: boolean,
    args: string[],
  ) {
    this.#args = args;
    this.#input = input;
    this.#params = params;
    this.port = port;
    this.#udp = udp;
  }

  /** Starts `fluent-bit -i INPUT` with `params` on a free port of 127.0.0.1. */
  static async start(
    input: string,
    params: Record<string, string> = {},
    options: { port?: number; udp?: boolean; args?: string[]; dateKey?: string } = {},
  ): Promise<FluentBit> {
    const fb = new FluentBit(
      input,
      params,
      options.port ?? freePort(),
      options.udp ?? false,
      options.args ?? [],
    );
    fb.#dateKey = options.dateKey;
    await fb.restart();
    return fb;
  }

  /** Starts it again on the same port (after {@linkcode FluentBit.stop}). */
  async restart(): Promise<void> {
    const args = ["-q", "-f", "1", ...this.#args, "-i", this.#input, "-p", "listen=127.0.0.1"];
    args.push("-p", `port=${this.port}`);
    for (const [key, value] of Object.entries(this.#params)) args.push("-p", `${key}=${value}`);
    args.push("-o", "stdout", "-p", "match=*", "-p", "format=json_lines");
    if (this.#dateKey) {
      args.push("-p", `json_date_key=${this.#dateKey}`, "-p", "json_date_format=double");
    } else args.push("-p", "json_date_key=false");
    this.#process = new Deno.Command(FLUENT_BIT!, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const decoder = new TextDecoder();
    const process = this.#process;
    const out = (async () => {
      for await (const chunk of process.stdout) {
        this.#text += decoder.decode(chunk, { stream: true });
        const end = this.#text.lastIndexOf("\n");
        if (end < 0) continue;
        for (const line of this.#text.slice(0, end).split("\n")) {
          if (line.startsWith("{")) this.records.push(JSON.parse(line));
        }
        this.#text = this.#text.slice(end + 1);
      }
    })();
    const err = (async () => {
      for await (const chunk of process.stderr) this.log += decoder.decode(chunk, { stream: true });
    })();
    this.#done = Promise.all([out, err, process.status]).then(() => {});
    if (this.#udp) await new Promise((resolve) => setTimeout(resolve, 300));
    else await listening(this.port);
  }

  /** Waits until it has written `count` records. */
  async received(count: number, timeoutMs = 60_000): Promise<void> {
    try {
      await until(
        `Fluent Bit wrote ${count} records`,
        () => this.records.length >= count,
        timeoutMs / 50,
      );
    } catch {
      throw new Error(
        `Fluent Bit wrote ${this.records.length} of ${count} records in ${timeoutMs} ms; its log: ${
          this.log.slice(-500)
        }`,
      );
    }
  }

  /** Stops it with SIGTERM: it flushes what it has, then exits. */
  async stop(): Promise<void> {
    try {
      this.#process?.kill("SIGTERM");
    } catch {
      // already gone
    }
    await this.#done;
    this.#process = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
