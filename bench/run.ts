/**
 * `deno task bench`: measures hitship against a reference loop, in one run.
 *
 * (a) reference: read the file line by line and JSON.parse each line;
 * (b) hitship end to end: stdin -> minio-hitlogs -> a local radosgw, until every object is up;
 * (c) hitship: file input -> file output;
 * (d) hitship: stdin -> file output, the stdin path the inputs below are compared with;
 * (e) hitship: http input, 1 MiB NDJSON bodies from 4 concurrent clients -> file output;
 * (f) hitship: forward input, PackedForward chunks of 1,000 records over 4 connections, each
 *     waiting for its ack (Fluent Bit with `Require_ack_response true`) -> file output;
 * (g) hitship: http input, 100 slow clients at once, each trickling 1 MiB bodies at 256 KiB/s:
 *     the peak RSS is the figure;
 * (h) hitship: a tailed file fed at 200 hits/s for 60 s -> insightconnect, against a local trigger
 *     that answers every request 150 ms late: every hit delivered once, hit-to-request latency
 *     (p50, p99, max) and the backlog (written, not yet received) every 10 s;
 * (i) a sidecar's day: hitship tailing a file into `minio-hitlogs` (interval 10 s) on a local
 *     radosgw, and the same into a `file` output (interval 10 s); idle for 20 s,
 *     then fed `--steady` hits/s (2,000) in writes every 10 ms, measured over 30 s after 5 s of
 *     warm-up: CPU seconds and RSS of the process from /proc;
 * (j) start-up: from spawning hitship to its first hit in the journal (a one-hit file), 5 times;
 * (k) the quick hit check against the full one over 1,000,000 generated and damaged lines: lines
 *     it accepts that the full check rejects (must be none), and its speed against JSON.parse;
 * (l) hitship: stdin -> each network output (http, datadog, sumologic, splunk-hec, elasticsearch,
 *     syslog, forward, opentelemetry) with its defaults -> a receiver in the bench's own process
 *     that answers as the real one does: hits per CPU-second of hitship delivering.
 *
 * Then one table of every target beside what was measured.
 *
 * For each: wall time, hits per second, CPU seconds (user + sys), hits per CPU-second, peak RSS,
 * and the ratio of hits per CPU-second to (a). Writes bench/out/result.json and prints a table.
 *
 * Every run is repeated (`--runs`, default 3) and the run of median CPU time is reported. Before each
 * run the input file is read once, so every run, the reference's too, starts with it in the page
 * cache: this machine kind drops page cache that is not touched for a few seconds, and reading it
 * back from disk would otherwise land in one run's CPU time and not another's.
 *
 * The hits have the node's variety (`time` as a string and a number, IPv6, null countries,
 * nested points, non-ASCII and escapes in `uri` and `payload`, tags that vary); `--compact` uses
 * the node's plain shape instead, all of it on the quick path. The share on the quick path is
 * printed.
 *
 * `--base REV` runs the throughput scenarios (b-g, l) on commit REV too (a worktree under
 * bench/out, with that commit's own start flags), each run of it right after this tree's, and
 * prints the ratio of each pair.
 *
 * Usage: deno task bench [--hits N] [--runs N] [--no-s3] [--compact] [--base REV] [--only a,c,e]
 *        [--ic-rate HITS_PER_S] [--ic-seconds S] [--ic-delay MS] [--steady HITS_PER_S]
 */
import { parseArgs } from "node:util";
import { makeHit, random, variedHit } from "../test/hits.ts";
import { freePort, listening, START_FLAGS } from "../test/helpers.ts";
import { makeForwardFile, postBodies, sendForward, slowClients } from "./senders.ts";
import { forwardSink, httpSink, type Sink, tcpSink } from "./sinks.ts";
import { FLUENT_BIT } from "../test/fluent_bit.ts";
import { compare, differentialLines } from "../test/differential.ts";
import { quickHit } from "../src/hit/scan.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    hits: { type: "string", default: "1000000" },
    runs: { type: "string", default: "3" },
    "no-s3": { type: "boolean", default: false },
    compact: { type: "boolean", default: false },
    only: { type: "string", default: "a,b,c,d,e,f,g,h,i,j,k,l,n" },
    steady: { type: "string", default: "2000" },
    "ic-rate": { type: "string", default: "200" },
    "ic-seconds": { type: "string", default: "60" },
    "ic-delay": { type: "string", default: "150" },
    out: { type: "string", default: new URL("./out/", import.meta.url).pathname },
    base: { type: "string" },
  },
});
const N = Number(values.hits);
const RUNS = Math.max(1, Number(values.runs));
const ONLY = new Set(values.only!.split(","));
const out = values.out!;
await Deno.mkdir(out, { recursive: true });
const root = new URL("../", import.meta.url).pathname;
/** Which commit a measurement runs: this tree, or the `--base` one (a worktree). */
interface Side {
  label: string;
  mod: string;
  /** The permissions and V8 flags of that commit's own `deno task start`. */
  flags: string[];
}

/** The flags of `deno task start` in the deno.json of `tree`. */
function startFlagsOf(tree: string): string[] {
  return (JSON.parse(Deno.readTextFileSync(`${tree}deno.json`)).tasks.start as string)
    .split(/\s+/).filter((arg) => arg.startsWith("--allow-") || arg.startsWith("--v8-flags="));
}

/** A worktree of `rev` (made once, kept under bench/out), for `--base`. */
async function worktreeOf(rev: string): Promise<string> {
  const git = async (...args: string[]) => {
    const out = await new Deno.Command("git", { args, cwd: root, stdout: "piped", stderr: "piped" })
      .output();
    if (!out.success) {
      throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    }
    return new TextDecoder().decode(out.stdout).trim();
  };
  const commit = await git("rev-parse", "--verify", `${rev}^{commit}`);
  const tree = `${out}base-${commit.slice(0, 12)}/`;
  try {
    await Deno.stat(`${tree}mod.ts`);
  } catch {
    await git("worktree", "add", "--detach", "--force", tree, commit);
  }
  return tree;
}
/**
 * hitship runs as it ships: the permissions and V8 flags of `deno task start` (which the
 * Dockerfile's entrypoint repeats).
 */
const PERMISSIONS = START_FLAGS;
const mod = `${root}mod.ts`;
const SIDES: Side[] = [{ label: "", mod, flags: PERMISSIONS }];
if (values.base) {
  const tree = await worktreeOf(values.base);
  SIDES.push({ label: ` [base ${values.base}]`, mod: `${tree}mod.ts`, flags: startFlagsOf(tree) });
}
/** The side the next hitship run belongs to. */
let side: Side = SIDES[0]!;

interface Measure {
  name: string;
  /** CPU milliseconds of every run, in order; the figures are those of the median one. */
  runs_cpu_ms?: number[];
  hits: number;
  wall_ms: number;
  cpu_ms: number;
  max_rss_bytes: number;
  hits_per_s: number;
  hits_per_cpu_s: number;
  ratio?: number;
}

/**
 * Writes `n` generated hits to `path` (kept between runs). `compact`: {@linkcode makeHit}'s shape,
 * which the quick check takes whole; else the node's variety ({@linkcode variedHit}).
 *
 * @returns The file's size and the share of its hits the quick check takes.
 */
async function generate(
  path: string,
  n: number,
  compact: boolean,
): Promise<{ bytes: number; quick: number }> {
  const quickPath = `${path}.quick`;
  try {
    const stat = await Deno.stat(path);
    const quick = Number(await Deno.readTextFile(quickPath));
    if (stat.size > 0 && Number.isFinite(quick)) return { bytes: stat.size, quick };
  } catch { /* make it */ }
  console.error(`Generating ${n} ${compact ? "compact" : "varied"} hits into ${path}`);
  const file = await Deno.open(`${path}.tmp`, { write: true, create: true, truncate: true });
  const enc = new TextEncoder();
  const rand = random(42);
  let size = 0;
  let quick = 0;
  for (let i = 0; i < n; i += 10_000) {
    const lines: string[] = [];
    for (let j = i; j < Math.min(n, i + 10_000); j++) {
      const line = JSON.stringify(compact ? makeHit(j, rand) : variedHit(j, rand));
      if (quickHit(line)) quick++;
      lines.push(line);
    }
    const chunk = enc.encode(lines.join("\n") + "\n");
    size += chunk.length;
    let written = 0;
    while (written < chunk.length) written += await file.write(chunk.subarray(written));
  }
  file.close();
  await Deno.rename(`${path}.tmp`, path);
  await Deno.writeTextFile(quickPath, String(quick / n));
  return { bytes: size, quick: quick / n };
}

function measure(name: string, hits: number, wall: number, cpu: number, rss: number): Measure {
  return {
    name,
    hits,
    wall_ms: Math.round(wall),
    cpu_ms: cpu,
    max_rss_bytes: rss,
    hits_per_s: Math.round(hits / (wall / 1000)),
    hits_per_cpu_s: Math.round(hits / (cpu / 1000)),
  };
}

/**
 * Runs hitship to its end and takes its own figures from its last log line. With `drive`, hitship
 * is stopped with SIGTERM once `drive` is done (for inputs that never end by themselves).
 */
async function runHitship(
  name: string,
  args: string[],
  stdinFile?: string,
  drive?: () => Promise<void>,
): Promise<Measure> {
  const started = performance.now();
  const command = stdinFile
    ? new Deno.Command("bash", {
      args: [
        "-c",
        'exec "$@" < "$STDIN_FILE"',
        "bash",
        Deno.execPath(),
        "run",
        ...side.flags,
        side.mod,
        ...args,
      ],
      env: { STDIN_FILE: stdinFile, DENO_NO_UPDATE_CHECK: "1" },
      cwd: side.mod.slice(0, side.mod.lastIndexOf("/")),
      stdout: "piped",
      stderr: "piped",
    })
    : new Deno.Command(Deno.execPath(), {
      args: ["run", ...side.flags, side.mod, ...args],
      cwd: side.mod.slice(0, side.mod.lastIndexOf("/")),
      env: { DENO_NO_UPDATE_CHECK: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
  const child = command.spawn();
  // Peak RSS from the kernel (VmHWM), read by this process while the child runs.
  let peak = 0;
  const poll = setInterval(() => {
    try {
      const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
      peak = Math.max(peak, Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024);
    } catch { /* exited */ }
  }, 20);
  if (drive) {
    try {
      await drive();
    } finally {
      child.kill("SIGTERM");
    }
  }
  const result = await child.output();
  clearInterval(poll);
  const wall = performance.now() - started;
  const stderr = new TextDecoder().decode(result.stderr);
  if (result.code !== 0) throw new Error(`${name} failed (${result.code}): ${stderr.slice(-2000)}`);
  // Only hitship's JSON log lines (Deno may add a notice of its own).
  const stopped = stderr.trim().split("\n").filter((l) => l.startsWith("{")).map((l) =>
    JSON.parse(l)
  ).find((l) => l.msg === "hitship stopped");
  return measure(
    name,
    stopped.hits,
    wall,
    stopped.cpu_user_ms + stopped.cpu_system_ms,
    Math.max(stopped.max_rss_bytes, peak),
  );
}

/** hitship with one input (YAML flow map) and a file output, driven until `drive` is done. */
async function runInput(
  name: string,
  input: string,
  drive: (port: number) => Promise<void>,
): Promise<Measure> {
  const data = await Deno.makeTempDir({ prefix: "hitship-bench-" });
  const port = freePort();
  const config = `${data}/hitship.yaml`;
  await Deno.writeTextFile(
    config,
    `data_dir: ${data}/data
max_journal_bytes: 16GiB
input: ${input.replace("PORT", String(port))}
outputs: [{ name: local, type: file, path: ${data}/out, interval: 1h }]
`,
  );
  const result = await runHitship(name, ["run", "--config", config], undefined, async () => {
    await listening(port);
    await drive(port);
  });
  await Deno.remove(data, { recursive: true });
  return result;
}

/** Reads the file once, to bring it into the page cache. */
async function warm(path: string): Promise<void> {
  const file = await Deno.open(path);
  const buffer = new Uint8Array(1024 * 1024);
  try {
    while ((await file.read(buffer)) !== null) { /* read */ }
  } finally {
    file.close();
  }
}

/**
 * Runs a measurement `RUNS` times, for this tree and the `--base` one in turn (A B A B ...);
 * keeps each side's run of median CPU time.
 */
async function repeat(run: () => Promise<Measure>, sides: Side[] = SIDES): Promise<Measure[]> {
  const all: Measure[][] = sides.map(() => []);
  for (let i = 0; i < RUNS; i++) {
    for (const [k, s] of sides.entries()) {
      side = s;
      await warm(input);
      const m = await run();
      all[k]!.push({ ...m, name: m.name + s.label });
    }
  }
  side = SIDES[0]!;
  return all.map((runs) => {
    const sorted = [...runs].sort((a, b) => a.cpu_ms - b.cpu_ms);
    return {
      ...sorted[Math.floor((sorted.length - 1) / 2)]!,
      runs_cpu_ms: runs.map((m) => m.cpu_ms),
    };
  });
}

const COMPACT = values.compact!;
const input = `${out}hits-${N}${COMPACT ? "-compact" : "-varied"}.ndjson`;
const { bytes, quick: quickShare } = await generate(input, N, COMPACT);
console.error(
  `Input: ${N} ${COMPACT ? "compact" : "varied"} hits, ${(bytes / 1024 / 1024).toFixed(1)} MiB, ${
    Math.round(bytes / N)
  } bytes per hit, ${Math.round(quickShare * 100)} % on the quick path`,
);
const results: Measure[] = [];

// (a) reference: always, every ratio is to it
results.push(
  ...await repeat(async () => {
    const started = performance.now();
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", `${root}bench/reference.ts`, input],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const wall = performance.now() - started;
    const ref = JSON.parse(new TextDecoder().decode(r.stdout));
    return measure(
      "(a) reference: read + JSON.parse",
      ref.hits,
      wall,
      ref.cpu_user_ms + ref.cpu_system_ms,
      ref.max_rss_bytes,
    );
  }, [SIDES[0]!]),
);

/** A local radosgw in a temporary directory, its endpoint and keys, and how to stop it. */
async function startS3(): Promise<{ env: Record<string, string>; stop: () => Promise<void> }> {
  const server = `${root}test/s3/server.sh`;
  const s3dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "hs3b." });
  const stop = async () => {
    await new Deno.Command("bash", { args: [server, "stop", s3dir] }).output();
    await Deno.remove(s3dir, { recursive: true }).catch(() => {});
  };
  const started = await new Deno.Command("bash", {
    args: [server, "start", s3dir],
    stderr: "inherit",
  }).output();
  if (!started.success) {
    await stop();
    throw new Error("Cannot start the S3 server (radosgw); try --no-s3");
  }
  const env = Object.fromEntries(
    (await Deno.readTextFile(`${s3dir}/env`)).trim().split("\n").map((
      l,
    ) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  return { env, stop };
}

/** The AWS environment of a server started by {@linkcode startS3}. */
function awsEnv(env: Record<string, string>): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: env.S3_ACCESS_KEY!,
    AWS_SECRET_ACCESS_KEY: env.S3_SECRET_KEY!,
    AWS_DEFAULT_REGION: "us-east-1",
  };
}

/** Makes bucket `name` with the AWS CLI (Fluent Bit's s3 output does not make one). */
async function makeBucket(env: Record<string, string>, name: string): Promise<string> {
  const made = await new Deno.Command("aws", {
    args: ["--endpoint-url", env.S3_ENDPOINT!, "s3", "mb", `s3://${name}`],
    env: awsEnv(env),
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!made.success) throw new Error(`aws s3 mb: ${new TextDecoder().decode(made.stderr)}`);
  return name;
}

/** Lines in every object of `bucket` (the AWS CLI copies them out). */
async function linesIn(env: Record<string, string>, bucket: string): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "hitship-bench-fb-" });
  try {
    const copied = await new Deno.Command("aws", {
      args: ["--endpoint-url", env.S3_ENDPOINT!, "s3", "cp", "--recursive", `s3://${bucket}`, dir],
      env: awsEnv(env),
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!copied.success) throw new Error(`aws s3 cp: ${new TextDecoder().decode(copied.stderr)}`);
    let lines = 0;
    const walk = async (at: string) => {
      for await (const entry of Deno.readDir(at)) {
        const path = `${at}/${entry.name}`;
        if (entry.isDirectory) await walk(path);
        else {
          const bytes = await Deno.readFile(path);
          for (const byte of bytes) if (byte === 0x0a) lines++;
        }
      }
    };
    await walk(dir);
    return lines;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Fluent Bit tailing `log` (JSON lines) into `bucket`: PutObject of up to 64 MB, an upload 10 s
 * after the first record of one. `exit` stops it at the end of the file (after its uploads).
 */
function fluentBitTail(
  env: Record<string, string>,
  bucket: string,
  data: string,
  log: string,
  exit: boolean,
  wrap: string[] = [],
): Deno.Command {
  Deno.writeTextFileSync(`${data}/parsers.conf`, "[PARSER]\n    Name json\n    Format json\n");
  const args = [
    ...wrap.slice(1),
    FLUENT_BIT!,
    "-q",
    "-R",
    `${data}/parsers.conf`,
    "-f",
    "1",
    "-i",
    "tail",
    "-p",
    `path=${log}`,
    "-p",
    "read_from_head=on",
    "-p",
    "parser=json",
    "-p",
    "buffer_chunk_size=256k",
    "-p",
    "buffer_max_size=1M",
    "-p",
    `db=${data}/tail.db`,
    ...(exit ? ["-p", "exit_on_eof=on"] : []),
    "-o",
    "s3",
    "-p",
    "match=*",
    "-p",
    `bucket=${bucket}`,
    "-p",
    "region=us-east-1",
    "-p",
    `endpoint=${env.S3_ENDPOINT}`,
    "-p",
    "use_put_object=on",
    "-p",
    "total_file_size=64M",
    "-p",
    "upload_timeout=10s",
    "-p",
    `store_dir=${data}/store`,
  ];
  return new Deno.Command(wrap[0] ?? args.shift()!, {
    args,
    env: awsEnv(env),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  });
}

/**
 * Fluent Bit's bulk: the input file tailed from its head into a new bucket until the end, every
 * record uploaded; CPU and peak RSS from GNU time, the records counted in the bucket.
 */
async function fluentBitBulk(env: Record<string, string>): Promise<Measure> {
  const data = await Deno.makeTempDir({ prefix: "hitship-bench-fb-" });
  const bucket = await makeBucket(env, `fb-bulk-${crypto.randomUUID().slice(0, 8)}`);
  const started = performance.now();
  const result = await fluentBitTail(env, bucket, data, input, true, [
    "/usr/bin/time",
    "-f",
    "TIME %U %S %M",
  ]).output();
  const wall = performance.now() - started;
  const stderr = new TextDecoder().decode(result.stderr);
  const time = /TIME ([\d.]+) ([\d.]+) (\d+)/.exec(stderr);
  if (!time) throw new Error(`Fluent Bit: ${stderr.slice(-2000)}`);
  const hits = await linesIn(env, bucket);
  await Deno.remove(data, { recursive: true });
  if (hits !== N) console.error(`(n) Fluent Bit uploaded ${hits} of ${N} records`);
  return measure(
    "(n) Fluent Bit tail -> s3",
    hits,
    wall,
    Math.round((Number(time[1]) + Number(time[2])) * 1000),
    Number(time[3]) * 1024,
  );
}

/** A `minio-hitlogs` output into bucket `bucket` of a server started by {@linkcode startS3}. */
function minioOutput(env: Record<string, string>, bucket: string, interval: string): string {
  return `  - name: archive
    type: minio-hitlogs
    endpoint: ${env.S3_ENDPOINT}
    bucket: ${bucket}
    create_bucket: true
    access_key: ${env.S3_ACCESS_KEY}
    secret_key: ${env.S3_SECRET_KEY}
    interval: ${interval}
`;
}

// (b) stdin -> minio-hitlogs -> local radosgw, a new server for every run
if (!values["no-s3"] && ONLY.has("b")) {
  results.push(
    ...await repeat(async () => {
      const s3 = await startS3();
      try {
        const data = await Deno.makeTempDir({ prefix: "hitship-bench-" });
        const config = `${data}/hitship.yaml`;
        await Deno.writeTextFile(
          config,
          `data_dir: ${data}/data
max_journal_bytes: 16GiB
outputs:
${minioOutput(s3.env, "bench", "1h")}`,
        );
        await warm(input);
        const result = await runHitship(
          "(b) hitship stdin -> minio-hitlogs",
          ["run", "--config", config],
          input,
        );
        await Deno.remove(data, { recursive: true });
        return result;
      } finally {
        await s3.stop();
      }
    }),
  );
}

// (c) file input -> file output
if (ONLY.has("c")) {
  results.push(
    ...await repeat(async () => {
      const data = await Deno.makeTempDir({ prefix: "hitship-bench-" });
      const config = `${data}/hitship.yaml`;
      await Deno.writeTextFile(
        config,
        `data_dir: ${data}/data
max_journal_bytes: 16GiB
input: { type: file, path: ${input}, follow: false }
outputs: [{ name: local, type: file, path: ${data}/out, interval: 1h }]
`,
      );
      const result = await runHitship("(c) hitship file -> file", ["run", "--config", config]);
      await Deno.remove(data, { recursive: true });
      return result;
    }),
  );
}

// (d) stdin -> file output
if (ONLY.has("d")) {
  results.push(
    ...await repeat(async () => {
      const data = await Deno.makeTempDir({ prefix: "hitship-bench-" });
      const config = `${data}/hitship.yaml`;
      await Deno.writeTextFile(
        config,
        `data_dir: ${data}/data
max_journal_bytes: 16GiB
outputs: [{ name: local, type: file, path: ${data}/out, interval: 1h }]
`,
      );
      const result = await runHitship(
        "(d) hitship stdin -> file",
        ["run", "--config", config],
        input,
      );
      await Deno.remove(data, { recursive: true });
      return result;
    }),
  );
}

// (e) http: 1 MiB bodies from 4 concurrent clients
if (ONLY.has("e")) {
  results.push(
    ...await repeat(() =>
      runInput(
        "(e) hitship http (1 MiB bodies, 4 clients) -> file",
        `{ type: http, listen: "127.0.0.1:PORT" }`,
        async (port) => {
          const sent = await postBodies(`http://127.0.0.1:${port}/hits`, input, 4, 1024 * 1024);
          if (sent.accepted !== N) throw new Error(`http: ${sent.accepted} of ${N} accepted`);
        },
      )
    ),
  );
}

// (f) forward: PackedForward chunks of 1,000 records, 4 connections, acks
if (ONLY.has("f")) {
  const forwardFile = `${input}.forward`;
  await makeForwardFile(input, forwardFile, 1000);
  results.push(
    ...await repeat(() =>
      runInput(
        "(f) hitship forward (PackedForward x 1,000, 4 conns, acks) -> file",
        `{ type: forward, listen: "127.0.0.1:PORT" }`,
        async (port) => {
          const sent = await sendForward("127.0.0.1", port, forwardFile, 4);
          if (sent.messages !== Math.ceil(N / 1000)) {
            throw new Error(`forward: ${sent.messages} acks`);
          }
        },
      )
    ),
  );
}

// (g) http: 100 slow clients at once; the peak RSS is the figure
if (ONLY.has("g")) {
  const slow = { clients: 100, each: 3, size: 1024 * 1024, bytesPerSecond: 256 * 1024 };
  results.push(
    ...await repeat(() =>
      runInput(
        "(g) hitship http, 100 slow clients (1 MiB bodies at 256 KiB/s) -> file",
        `{ type: http, listen: "127.0.0.1:PORT" }`,
        async (port) => {
          const r = await slowClients("127.0.0.1", port, input, slow);
          console.error(`(g) ${r.requests} requests, ${r.busy} answered busy`);
        },
      )
    ),
  );
}

// (h) a tailed file at a steady rate -> insightconnect against a trigger that answers late
let insightconnect: Record<string, unknown> | undefined;
if (ONLY.has("h")) {
  const rate = Number(values["ic-rate"]);
  const seconds = Number(values["ic-seconds"]);
  const delay = Number(values["ic-delay"]);
  const { createServer } = await import("node:http");
  const written = new Map<string, number>();
  const received = new Map<string, number>();
  let duplicates = 0;
  let requests = 0;
  const server = createServer((req, res) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (text += c));
    req.on("end", () => {
      const now = performance.now();
      requests++;
      const details = JSON.parse(text).details ?? {};
      for (const hit of details.hits ?? (details.hit ? [details.hit] : [])) {
        if (received.has(hit.request_id)) duplicates++;
        else received.set(hit.request_id, now);
      }
      setTimeout(() => {
        res.writeHead(202, { "content-type": "application/json" });
        res.end('{"job_id":"bench"}');
      }, delay);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const data = await Deno.makeTempDir({ prefix: "hitship-bench-" });
  const log = `${data}/hits.ndjson`;
  await Deno.writeTextFile(log, "");
  const config = `${data}/hitship.yaml`;
  await Deno.writeTextFile(
    config,
    `data_dir: ${data}/data
input: { type: file, path: ${log} }
outputs:
  - name: soar
    type: insightconnect
    api_url: http://127.0.0.1:${port}/connect/v1/workflows/bench/events/execute
    api_key: bench
`,
  );
  const backlog: number[] = [];
  const total = rate * seconds;
  const result = await runHitship(
    `(h) file at ${rate} hits/s for ${seconds} s -> insightconnect, trigger ${delay} ms late`,
    ["run", "--config", config],
    undefined,
    async () => {
      await new Promise((r) => setTimeout(r, 1000)); // started
      const file = await Deno.open(log, { append: true });
      const started = performance.now();
      let n = 0;
      let nextReport = 10_000;
      while (n < total) {
        const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
        if (due > n) {
          const lines: string[] = [];
          const now = performance.now();
          for (; n < due; n++) {
            const hit = makeHit(n);
            hit.request_id = `bench-${n}`;
            written.set(hit.request_id as string, now);
            lines.push(JSON.stringify(hit));
          }
          await file.write(new TextEncoder().encode(lines.join("\n") + "\n"));
        }
        if (performance.now() - started >= nextReport) {
          backlog.push(written.size - received.size);
          nextReport += 10_000;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      file.close();
      for (let i = 0; i < 600 && received.size < total; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  );
  server.close();
  await Deno.remove(data, { recursive: true });
  const latencies = [...received].map(([id, at]) => at - written.get(id)!).sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.floor((latencies.length - 1) * q)] ?? NaN);
  insightconnect = {
    rate,
    seconds,
    delay_ms: delay,
    written: total,
    delivered: received.size,
    duplicates,
    requests,
    latency_ms: { p50: at(0.5), p99: at(0.99), max: at(1) },
    backlog_every_10s: backlog,
  };
  console.error(`(h) ${JSON.stringify(insightconnect)}`);
  results.push({ ...result, hits: received.size });
}

/** `hitship run --config CONFIG` in the background, its output dropped. */
function runQuietly(config: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...side.flags, side.mod, "run", "--config", config],
    cwd: side.mod.slice(0, side.mod.lastIndexOf("/")),
    env: { DENO_NO_UPDATE_CHECK: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/**
 * The runtime's floor (bench/floor.ts: Deno with hitship's start flags and the libraries it loads
 * at start-up): its start-up to `ready` (median of 5), and its RSS after 5 s idle.
 */
async function floorOf(): Promise<{ startup_ms: number; idle_rss_mib: number }> {
  const times: number[] = [];
  let rss = 0;
  for (let run = 0; run < 5; run++) {
    const started = performance.now();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSIONS, `${root}bench/floor.ts`],
      cwd: root,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.getReader();
    let text = "";
    while (!text.includes("ready")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    times.push(performance.now() - started);
    if (run === 0) {
      await new Promise((r) => setTimeout(r, 5000));
      const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
      rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
    }
    reader.releaseLock();
    child.kill("SIGTERM");
    await child.stdout.cancel().catch(() => {});
    await child.status;
  }
  times.sort((a, b) => a - b);
  return { startup_ms: Math.round(times[2]!), idle_rss_mib: Math.round(rss / 1048576) };
}

let floor: { startup_ms: number; idle_rss_mib: number } | undefined;
if (ONLY.has("i") || ONLY.has("j")) {
  floor = await floorOf();
  console.error(`floor: ${JSON.stringify(floor)}`);
}

// (i) idle, then a steady feed: CPU and RSS from /proc over fixed windows
interface SidecarDay {
  idle_20s: { cpu_s: number; rss_mib: number };
  steady: { rate: number; cpu_s: number; cpu_s_per_10s: number[]; rss_mib: number };
}

/** hitship tailing a quiet file into `outputs` (YAML list items), then fed `rate` hits a second. */
function sidecarDay(outputs: (data: string) => string, rate: number): Promise<SidecarDay> {
  return dayOf(async (data, log) => {
    await Deno.writeTextFile(
      `${data}/hitship.yaml`,
      `data_dir: ${data}/data
input: { type: file, path: ${log} }
outputs:
${outputs(data)}`,
    );
    return runQuietly(`${data}/hitship.yaml`);
  }, rate);
}

/**
 * A shipper (`start` spawns it to tail `log`) idle for 20 s, then fed `rate` hits a second: its
 * CPU and RSS from /proc.
 */
async function dayOf(
  start: (data: string, log: string) => Promise<Deno.ChildProcess>,
  rate: number,
): Promise<SidecarDay> {
  const data = await Deno.makeTempDir({ prefix: "hitship-bench-" });
  const log = `${data}/hits.ndjson`;
  await Deno.writeTextFile(log, "");
  const child = await start(data, log);
  const ticks = () => {
    const fields = Deno.readTextFileSync(`/proc/${child.pid}/stat`).split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in seconds
  };
  const rss = () =>
    Number(/VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${child.pid}/status`))![1]) *
    1024;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await sleep(3000);
  const idleFrom = ticks();
  let idleRss = 0;
  for (let i = 0; i < 20; i++) {
    await sleep(1000);
    idleRss = Math.max(idleRss, rss());
  }
  const idleCpu = ticks() - idleFrom;
  // The feed: writes every 10 ms, `rate` hits a second; the window is the 30 s after 5 s.
  const file = await Deno.open(log, { append: true });
  const started = performance.now();
  let n = 0;
  const marks: number[] = [];
  let steadyRss = 0;
  while (performance.now() - started < 35_000) {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    const lines: string[] = [];
    for (; n < due; n++) lines.push(JSON.stringify(makeHit(n)));
    if (lines.length > 0) await file.write(new TextEncoder().encode(lines.join("\n") + "\n"));
    const elapsed = performance.now() - started;
    while (elapsed >= 5000 + marks.length * 10_000 && marks.length < 3) marks.push(ticks());
    if (marks.length > 0) steadyRss = Math.max(steadyRss, rss());
    await sleep(10);
  }
  marks.push(ticks());
  file.close();
  child.kill("SIGTERM");
  await child.status;
  await Deno.remove(data, { recursive: true });
  const mib = (b: number) => Math.round(b / 1024 / 1024);
  const cpu = (s: number) => Math.round(s * 100) / 100;
  return {
    idle_20s: { cpu_s: cpu(idleCpu), rss_mib: mib(idleRss) },
    steady: {
      rate,
      cpu_s: cpu(marks[3]! - marks[0]!),
      cpu_s_per_10s: marks.slice(1).map((m, i) => cpu(m - marks[i]!)),
      rss_mib: mib(steadyRss),
    },
  };
}

/**
 * The day of the target, into `minio-hitlogs` (interval 10 s) on a local radosgw, and the
 * same into a `file` output, for what the output itself costs.
 */
let sidecar: Record<string, SidecarDay> | undefined;
/** With `--base`: the same days on the base commit, right after this tree's. */
let sidecarBase: Record<string, SidecarDay> | undefined;
if (ONLY.has("i")) {
  const rate = Number(values.steady);
  const days: Record<string, SidecarDay>[] = [];
  for (const s of SIDES) {
    side = s;
    const day: Record<string, SidecarDay> = {};
    if (!values["no-s3"]) {
      const s3 = await startS3();
      try {
        day["minio-hitlogs"] = await sidecarDay(() => minioOutput(s3.env, "day", "10s"), rate);
      } finally {
        await s3.stop();
      }
    }
    day.file = await sidecarDay(
      (data) => `  - { name: local, type: file, path: ${data}/out, interval: 10s }\n`,
      rate,
    );
    console.error(`(i)${s.label} ${JSON.stringify(day)}`);
    days.push(day);
  }
  side = SIDES[0]!;
  sidecar = days[0];
  sidecarBase = days[1];
}

// (j) start-up to the first hit journaled
let startup: number[] | undefined;
if (ONLY.has("j")) {
  startup = [];
  for (let run = 0; run < 5; run++) {
    const data = await Deno.makeTempDir({ prefix: "hitship-bench-" });
    await Deno.writeTextFile(`${data}/hits.ndjson`, JSON.stringify(makeHit(run)) + "\n");
    await Deno.writeTextFile(
      `${data}/hitship.yaml`,
      `data_dir: ${data}/data
input: { type: file, path: ${data}/hits.ndjson }
outputs: [{ name: local, type: file, path: ${data}/out, interval: 1h }]
`,
    );
    const started = performance.now();
    const child = runQuietly(`${data}/hitship.yaml`);
    let journaled: number | undefined;
    while (journaled === undefined && performance.now() - started < 10_000) {
      try {
        for (const entry of Deno.readDirSync(`${data}/data/journal`)) {
          if (!entry.name.endsWith(".ndjson")) continue;
          // The hit itself, not the zeros of a direct write's padding or alignment probe.
          const first = new Uint8Array(1);
          using segment = Deno.openSync(`${data}/data/journal/${entry.name}`);
          if (segment.readSync(first) === 1 && first[0] === 0x7b) {
            journaled = performance.now() - started;
          }
        }
      } catch { /* not there yet */ }
      await new Promise((r) => setTimeout(r, 2));
    }
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(data, { recursive: true });
    startup.push(Math.round(journaled ?? NaN));
  }
  console.error(`(j) start-up to the first hit journaled, ms: ${startup.join(", ")}`);
}

// (k) the quick check, differential at full size, and its speed
let quick: Record<string, number> | undefined;
if (ONLY.has("k")) {
  const lines = differentialLines(1_000_000, 11);
  const { wrong, fast, valid } = compare(lines);
  const hits = Array.from({ length: 10_000 }, (_, i) => JSON.stringify(makeHit(i)));
  const time = (f: (line: string) => unknown) => {
    const started = performance.now();
    for (let r = 0; r < 20; r++) for (const line of hits) f(line);
    return Math.round(((performance.now() - started) / (20 * hits.length)) * 1e6) / 1e3; // us
  };
  time(JSON.parse);
  time(quickHit);
  quick = {
    lines: lines.length,
    valid,
    decided_quickly: fast,
    accepted_wrongly: wrong.length,
    json_parse_us: time(JSON.parse),
    quick_us: time(quickHit),
  };
  console.error(`(k) ${JSON.stringify(quick)}`);
}

// (n) Fluent Bit side by side: the same data and the same radosgw, tail -> s3
let fluentBit: { bulk?: Measure; day?: SidecarDay; skipped?: string } | undefined;
if (ONLY.has("n")) {
  fluentBit = {};
  if (!FLUENT_BIT) fluentBit.skipped = "no Fluent Bit: set FLUENT_BIT or put fluent-bit on PATH";
  else if (values["no-s3"]) fluentBit.skipped = "--no-s3";
  else {
    const s3 = await startS3();
    try {
      fluentBit.bulk = (await repeat(() => fluentBitBulk(s3.env), [SIDES[0]!]))[0];
      const bucket = await makeBucket(s3.env, "fb-day");
      fluentBit.day = await dayOf(
        (data, log) => Promise.resolve(fluentBitTail(s3.env, bucket, data, log, false).spawn()),
        Number(values.steady),
      );
    } finally {
      await s3.stop();
    }
    results.push(fluentBit.bulk!);
    console.error(`(n) Fluent Bit's day: ${JSON.stringify(fluentBit.day)}`);
  }
  if (fluentBit.skipped) console.error(`(n) skipped: ${fluentBit.skipped}`);
}

// (l) stdin -> each network output -> a sink in this process (hitship's CPU alone)
if (ONLY.has("l")) {
  const outputs: Array<[string, (port: number) => string, () => Promise<Sink> | Sink]> = [
    ["http (ndjson)", (p) => `type: http, url: "http://127.0.0.1:${p}/hits"`, httpSink],
    ["http (json)", (p) => `type: http, url: "http://127.0.0.1:${p}/hits", format: json`, httpSink],
    [
      "datadog",
      (p) => `type: datadog, url: "http://127.0.0.1:${p}/api/v2/logs", api_key: k`,
      httpSink,
    ],
    ["sumologic", (p) => `type: sumologic, url: "http://127.0.0.1:${p}/receiver"`, httpSink],
    ["splunk-hec", (p) => `type: splunk-hec, url: "http://127.0.0.1:${p}", token: t`, httpSink],
    ["elasticsearch", (p) => `type: elasticsearch, url: "http://127.0.0.1:${p}"`, httpSink],
    ["syslog (rfc5424, tcp)", (p) => `type: syslog, address: "127.0.0.1:${p}"`, tcpSink],
    ["syslog (cef, tcp)", (p) => `type: syslog, address: "127.0.0.1:${p}", format: cef`, tcpSink],
    ["forward (acks)", (p) => `type: forward, address: "127.0.0.1:${p}"`, forwardSink],
    [
      "opentelemetry (protobuf)",
      (p) => `type: opentelemetry, url: "http://127.0.0.1:${p}"`,
      httpSink,
    ],
    [
      "opentelemetry (json)",
      (p) => `type: opentelemetry, url: "http://127.0.0.1:${p}", encoding: json`,
      httpSink,
    ],
  ];
  for (const [name, fields, start] of outputs) {
    results.push(
      ...await repeat(async () => {
        const sink = await start();
        const data = await Deno.makeTempDir({ prefix: "hitship-bench-" });
        const config = `${data}/hitship.yaml`;
        await Deno.writeTextFile(
          config,
          `data_dir: ${data}/data
max_journal_bytes: 16GiB
outputs: [{ name: out, ${fields(sink.port)}, interval: 1s }]
`,
        );
        try {
          return await runHitship(
            `(l) hitship stdin -> ${name}`,
            ["run", "--config", config],
            input,
          );
        } finally {
          await sink.stop();
          await Deno.remove(data, { recursive: true });
        }
      }),
    );
  }
}

const reference = results[0]!.hits_per_cpu_s;
for (const r of results) r.ratio = Math.round((r.hits_per_cpu_s / reference) * 100) / 100;

const report = {
  date: new Date().toISOString(),
  deno: Deno.version.deno,
  cpus: navigator.hardwareConcurrency,
  hits: N,
  runs: RUNS,
  bytes_per_hit: Math.round(bytes / N),
  data: COMPACT ? "compact" : "varied",
  quick_path_share: Math.round(quickShare * 1000) / 1000,
  results,
  insightconnect,
  sidecar,
  sidecar_base: sidecarBase,
  startup_ms: startup,
  floor,
  fluent_bit: fluentBit,
  quick_check: quick,
};
await Deno.writeTextFile(`${out}result.json`, JSON.stringify(report, null, 2) + "\n");

const header = ["run", "hits", "wall s", "hits/s", "CPU s", "hits/CPU-s", "peak RSS MiB", "x ref"];
const rows = results.map((r) => [
  r.name,
  String(r.hits),
  (r.wall_ms / 1000).toFixed(2),
  String(r.hits_per_s),
  (r.cpu_ms / 1000).toFixed(2),
  String(r.hits_per_cpu_s),
  (r.max_rss_bytes / 1024 / 1024).toFixed(0),
  r.ratio!.toFixed(2),
]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) =>
  cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
console.log(line(header));
for (const row of rows) console.log(line(row));
for (const [days, label] of [[sidecar, ""], [sidecarBase, SIDES[1]?.label ?? ""]] as const) {
  for (const [output, { idle_20s, steady }] of Object.entries(days ?? {})) {
    console.log(
      `(i) into ${output}${label}: idle 20 s ${idle_20s.cpu_s} CPU-s, ${idle_20s.rss_mib} MiB ` +
        `RSS; ${steady.rate} hits/s for 30 s ${steady.cpu_s} CPU-s (per 10 s: ` +
        `${steady.cpu_s_per_10s.join(", ")}), ${steady.rss_mib} MiB RSS`,
    );
  }
}
// Every target beside what was measured (the issues' figures; `-` where the scenario did not run).
const byName = (prefix: string) => results.find((r) => r.name.startsWith(prefix));
const ratio = (a?: Measure, b?: Measure) =>
  a && b ? Math.round((a.hits_per_cpu_s / b.hits_per_cpu_s) * 100) / 100 : undefined;
const ic = insightconnect as {
  written: number;
  delivered: number;
  duplicates: number;
  latency_ms: { p99: number };
} | undefined;
/** (i)'s targets are for minio-hitlogs; with `--no-s3`, the file output's day stands in (said so). */
const dayOutput = sidecar && (sidecar["minio-hitlogs"] ? "minio-hitlogs" : "file");
if (dayOutput === "file") console.log("(i) targets below: the day into a file output (--no-s3)");
const day = dayOutput ? sidecar![dayOutput] : undefined;
const steady = day?.steady;
const median = (xs?: number[]) =>
  xs ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : undefined;
const mb = (mib: number) => Math.round(mib * 1.048576);
const targets: Array<[string, number | undefined, string, (v: number) => boolean]> = [
  [
    "(b) stdin -> minio-hitlogs / parse-only, hits per CPU-s",
    ratio(byName("(b) hitship stdin -> minio-hitlogs"), results[0]),
    ">= 0.6 (aim 1.0)",
    (v) => v >= 0.6,
  ],
  [
    "(b) peak RSS, MB",
    byName("(b) hitship stdin -> minio-hitlogs") &&
    mb(byName("(b) hitship stdin -> minio-hitlogs")!.max_rss_bytes / 1048576),
    "<= 140",
    (v) => v <= 140,
  ],
  [
    "(d) stdin -> file / parse-only, hits per CPU-s",
    ratio(byName("(d) hitship stdin -> file"), results[0]),
    ">= 0.6 (aim 1.0)",
    (v) => v >= 0.6,
  ],
  [
    "(d) peak RSS, MB",
    byName("(d) hitship stdin -> file") &&
    mb(byName("(d) hitship stdin -> file")!.max_rss_bytes / 1048576),
    "<= 140",
    (v) => v <= 140,
  ],
  [
    "(e) http / stdin, hits per CPU-s",
    ratio(byName("(e)"), byName("(d)")),
    ">= 0.8",
    (v) => v >= 0.8,
  ],
  [
    "(f) forward / stdin, hits per CPU-s",
    ratio(byName("(f)"), byName("(d)")),
    ">= 0.5",
    (v) => v >= 0.5,
  ],
  [
    "(g) peak RSS, 100 slow clients, MB",
    byName("(g)") && mb(byName("(g)")!.max_rss_bytes / 1048576),
    "< 160",
    (v) => v < 160,
  ],
  ["(h) insightconnect p99 hit-to-request, ms", ic?.latency_ms.p99, "<= 2000", (v) => v <= 2000],
  [
    "(h) insightconnect hits not delivered once",
    ic && ic.written - ic.delivered + ic.duplicates,
    "0",
    (v) => v === 0,
  ],
  ["(i) idle CPU-s per 20 s", day?.idle_20s?.cpu_s, "<= 0.02", (v) => v <= 0.02],
  [
    "(i) idle RSS over the floor, MB",
    day?.idle_20s && floor && mb(day.idle_20s.rss_mib - floor.idle_rss_mib),
    "<= 10",
    (v) => v <= 10,
  ],
  [
    "(i) steady RSS over the floor, MB",
    steady && floor && mb(steady.rss_mib - floor.idle_rss_mib),
    "<= 40",
    (v) => v <= 40,
  ],
  [
    "(j) start-up over the floor's, ms (median)",
    startup && floor && median(startup)! - floor.startup_ms,
    "<= 150",
    (v) => v <= 150,
  ],
  [
    "(n) bulk to s3, hits per CPU-s, hitship / Fluent Bit",
    ratio(byName("(b) hitship stdin -> minio-hitlogs"), fluentBit?.bulk),
    ">= 2",
    (v) => v >= 2,
  ],
  [
    "(n) steady CPU to s3, hitship / Fluent Bit",
    sidecar?.["minio-hitlogs"] && fluentBit?.day &&
    Math.round(
        (sidecar["minio-hitlogs"].steady.cpu_s / fluentBit.day.steady.cpu_s) * 100,
      ) / 100,
    "<= 1",
    (v) => v <= 1,
  ],
  [
    "(n) steady RSS to s3, hitship / Fluent Bit (a figure)",
    sidecar?.["minio-hitlogs"] && fluentBit?.day &&
    Math.round(
        (sidecar["minio-hitlogs"].steady.rss_mib / fluentBit.day.steady.rss_mib) * 100,
      ) / 100,
    "-",
    () => true,
  ],
  [
    "(k) lines the quick check accepts wrongly (of 1 M)",
    quick?.accepted_wrongly,
    "0",
    (v) => v === 0,
  ],
  [
    "(k) quick check / JSON.parse, time per hit",
    quick && Math.round((quick.quick_us / quick.json_parse_us) * 100) / 100,
    "< 1",
    (v) => v < 1,
  ],
];
console.log(
  "\ntarget".padEnd(59) + "measured  target",
);
for (const [what, value, target, met] of targets) {
  const shown = value === undefined || Number.isNaN(value) ? "-" : String(value);
  const verdict = value === undefined || Number.isNaN(value) ? "" : met(value) ? "met" : "NOT MET";
  console.log(`${what.padEnd(58)}${shown.padStart(8)}  ${target.padEnd(24)} ${verdict}`);
}
if (values.base) {
  console.log(`\nA/B against ${values.base}, hits per CPU-second (this tree / base), in one run:`);
  for (const r of results) {
    if (r.name.endsWith(SIDES[1]!.label)) continue;
    const b = results.find((x) => x.name === r.name + SIDES[1]!.label);
    if (b) {
      console.log(
        `${r.name.padEnd(70)} ${(r.hits_per_cpu_s / b.hits_per_cpu_s).toFixed(2)} (peak RSS ${
          (r.max_rss_bytes / 1048576).toFixed(0)
        } / ${(b.max_rss_bytes / 1048576).toFixed(0)} MiB)`,
      );
    }
  }
}
console.log(`\nWritten to ${out}result.json`);
