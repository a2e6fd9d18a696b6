/**
 * Helpers for the integration and end-to-end tests: run the real CLI as a separate process.
 *
 * @module
 */

/** The permissions the sidecar runs with (the Dockerfile uses the same). */
export const RUN_PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-net",
  "--allow-sys=hostname",
];

/** The entry point. */
export const MOD = new URL("../mod.ts", import.meta.url).pathname;

/**
 * The permissions and V8 flags of `deno task start` (which the Dockerfile's entrypoint repeats),
 * read from deno.json so that nothing run here drifts from how hitship ships.
 */
export const START_FLAGS: string[] =
  (JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url))).tasks
    .start as string)
    .split(/\s+/).filter((arg) => arg.startsWith("--allow-") || arg.startsWith("--v8-flags="));

/** The V8 flags hitship ships with: the tests measure memory as it runs in the image. */
export const V8_FLAGS: string[] = START_FLAGS.filter((arg) => arg.startsWith("--v8-flags="));

/** What a finished CLI run printed. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@linkcode runCli}. */
export interface RunCliOptions {
  stdin?: string | Uint8Array;
  /** A file for standard input instead of a pipe, as `hitship run < FILE` does. */
  stdinFile?: string;
  cwd?: string;
  env?: Record<string, string>;
}

/** Runs `hitship ARGS` to its end. */
export async function runCli(args: string[], options: RunCliOptions = {}): Promise<CliRun> {
  const child = spawnCli(args, options);
  const writing = (async () => {
    const writer = child.stdin.getWriter();
    if (options.stdin !== undefined) {
      const data = typeof options.stdin === "string"
        ? new TextEncoder().encode(options.stdin)
        : options.stdin;
      await writer.write(data).catch(() => {});
    }
    await writer.close().catch(() => {});
  })();
  const output = await child.output();
  await writing;
  const dec = new TextDecoder();
  return {
    code: output.code,
    stdout: dec.decode(output.stdout),
    stderr: dec.decode(output.stderr),
  };
}

/** Starts `hitship ARGS` with every stream piped. */
export function spawnCli(args: string[], options: RunCliOptions = {}): Deno.ChildProcess {
  const command = [
    Deno.execPath(),
    "run",
    "--quiet",
    ...RUN_PERMISSIONS,
    ...V8_FLAGS,
    MOD,
    ...args,
  ];
  const redirect = options.stdinFile !== undefined;
  return new Deno.Command(redirect ? "bash" : command[0]!, {
    args: redirect
      ? ["-c", 'exec "$@" < "$HITSHIP_STDIN_FILE"', "bash", ...command]
      : command.slice(1),
    cwd: options.cwd,
    env: redirect ? { ...options.env, HITSHIP_STDIN_FILE: options.stdinFile! } : options.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Keys named `prefix-TIMESTAMP[-N].ext`, in export order. */
export function exportOrder(names: string[]): string[] {
  const parse = (name: string) => {
    const match = /-(\d+)(?:-(\d+))?\./.exec(name);
    return match ? [Number(match[1]), Number(match[2] ?? 0)] : [0, 0];
  };
  return [...names].sort((a, b) => {
    const [ta, na] = parse(a);
    const [tb, nb] = parse(b);
    return ta! - tb! || na! - nb!;
  });
}

/** Writes a config file in `dir` and returns its path. */
export async function writeConfig(
  dir: string,
  yaml: string,
  name = "hitship.yaml",
): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, yaml);
  return path;
}

/** The status file `status.json` in `dir`, or `undefined` while there is none. */
// deno-lint-ignore no-explicit-any
export async function statusIn(dir: string): Promise<any> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/status.json`));
  } catch {
    return undefined;
  }
}

/**
 * Paces a load a test generates (a writer that appends every few milliseconds, as the node
 * does): real time between writes, never a wait for a state (that is {@linkcode until}).
 */
export function pace(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * hitship's log records in `stderr`: the JSON lines parsed, the other lines (a Deno warning, a
 * panic) kept apart in `others`, for a failing assertion to show.
 */
export function logRecords(
  stderr: string,
): Array<Record<string, unknown> & { msg: string; level: string }> & { others: string[] } {
  const records = [] as unknown as
    & Array<Record<string, unknown> & { msg: string; level: string }>
    & { others: string[] };
  records.others = [];
  for (const line of stderr.split("\n")) {
    if (line.trim() === "") continue;
    try {
      records.push(JSON.parse(line));
    } catch {
      records.others.push(line);
    }
  }
  return records;
}

/** Polls `check` until it holds; throws, naming `what`, when it does not in time. */
export async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  tries = 600,
  every = 50,
): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** Every hit in the exported JSON files (`hitlogs-*.json`) of a directory, in export order. */
export async function readExports(dir: string): Promise<unknown[]> {
  let names: string[] = [];
  try {
    names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
      /^hitlogs-.*\.json$/.test(n)
    );
  } catch {
    return [];
  }
  const out: unknown[] = [];
  for (const name of exportOrder(names)) {
    out.push(...JSON.parse(await Deno.readTextFile(`${dir}/${name}`)));
  }
  return out;
}

/** A port nothing listens on now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Waits until a port on 127.0.0.1 takes connections. */
export async function listening(port: number): Promise<void> {
  await until(`port ${port} listens`, async () => {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return true;
    } catch {
      return false;
    }
  });
}

/** PEM files of a test CA and a server certificate it signed for 127.0.0.1 (openssl). */
export interface TestCertificate {
  /** The CA's certificate, for clients. */
  ca: string;
  /** The server's certificate. */
  cert: string;
  /** The server's private key. */
  key: string;
}

/** Makes a test CA and a certificate for 127.0.0.1 signed by it, in `dir`. */
export async function makeTestCertificate(dir: string): Promise<TestCertificate> {
  const openssl = async (...args: string[]) => {
    const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" })
      .output();
    if (!out.success) {
      throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
    }
  };
  const at = (name: string) => `${dir}/${name}`;
  await openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=hitship test CA",
    "-keyout",
    at("ca.key"),
    "-out",
    at("ca.pem"),
  );
  await openssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=127.0.0.1",
    "-keyout",
    at("tls.key"),
    "-out",
    at("tls.csr"),
  );
  await Deno.writeTextFile(at("tls.ext"), "subjectAltName=IP:127.0.0.1\n");
  await openssl(
    "x509",
    "-req",
    "-in",
    at("tls.csr"),
    "-CA",
    at("ca.pem"),
    "-CAkey",
    at("ca.key"),
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    at("tls.ext"),
    "-out",
    at("tls.pem"),
  );
  return { ca: at("ca.pem"), cert: at("tls.pem"), key: at("tls.key") };
}

/** Reads hitship's log to its end in the background; `logged` tests the messages so far. */
export function collectLog(stream: ReadableStream<Uint8Array>): {
  logged(pattern: RegExp): boolean;
  text(): string;
  done: Promise<void>;
} {
  let text = "";
  const decoder = new TextDecoder();
  const done = (async () => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  })();
  const messages = () =>
    text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l).msg as string);
  return { logged: (pattern) => messages().some((m) => pattern.test(m)), text: () => text, done };
}

/** A raw Forward connection: bytes out, one msgpack answer (an ack) in, or null once closed. */
export async function forwardConnection(port: number): Promise<{
  send(bytes: Uint8Array): Promise<void>;
  read(): Promise<unknown | null>;
  close(): void;
}> {
  const { Packr } = await import("msgpackr");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const buffer = new Uint8Array(4096);
  return {
    async send(bytes) {
      await conn.write(bytes);
    },
    async read() {
      try {
        const timer = setTimeout(() => conn.close(), 30_000); // a test that would hang fails
        const got = await conn.read(buffer).finally(() => clearTimeout(timer));
        return got === null
          ? null
          : new Packr({ useRecords: false }).unpack(buffer.subarray(0, got));
      } catch {
        return null; // reset
      }
    },
    close: () => {
      try {
        conn.close();
      } catch {
        // closed already
      }
    },
  };
}

/** The peak resident memory of a running process (`VmHWM`), in MiB. */
export function peakRssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}
