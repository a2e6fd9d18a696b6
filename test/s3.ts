/**
 * The real S3 server of the tests (Ceph radosgw, started by `test/run_tests.sh`) and two clients
 * to read it back: the minio client, and Debian's awscli, which shares no code with hitship.
 *
 * @module
 */
import { Client } from "minio";

/** Where the test server is, from the environment `test/run_tests.sh` sets. */
export function s3Env(): { endpoint: string; accessKey: string; secretKey: string; dir: string } {
  const endpoint = Deno.env.get("S3_ENDPOINT");
  const accessKey = Deno.env.get("S3_ACCESS_KEY");
  const secretKey = Deno.env.get("S3_SECRET_KEY");
  const dir = Deno.env.get("S3_DIR");
  if (!endpoint || !accessKey || !secretKey || !dir) {
    throw new Error(
      "The S3 test server is not running: run the tests with `deno task test`, which starts it",
    );
  }
  return { endpoint, accessKey, secretKey, dir };
}

/** A minio client for the test server. */
export function s3Client(): Client {
  const { endpoint, accessKey, secretKey } = s3Env();
  const url = new URL(endpoint);
  return new Client({
    endPoint: url.hostname,
    port: Number(url.port),
    useSSL: false,
    accessKey,
    secretKey,
    pathStyle: true,
    region: "us-east-1",
  });
}

let buckets = 0;

/** Creates a bucket with a unique name. */
export async function newBucket(prefix = "hits"): Promise<string> {
  const name = `${prefix}-${Date.now().toString(36)}-${Deno.pid}-${buckets++}`;
  await s3Client().makeBucket(name, "us-east-1");
  return name;
}

/** Runs Debian's awscli against the test server. */
export async function aws(args: string[]): Promise<Uint8Array> {
  const { endpoint, accessKey, secretKey } = s3Env();
  const out = await new Deno.Command("/usr/bin/aws", {
    args: ["--endpoint-url", endpoint, ...args],
    env: {
      AWS_ACCESS_KEY_ID: accessKey,
      AWS_SECRET_ACCESS_KEY: secretKey,
      AWS_DEFAULT_REGION: "us-east-1",
      AWS_PAGER: "",
      AWS_CONFIG_FILE: "/dev/null",
      AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(`aws ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return out.stdout;
}

/** The keys of a bucket, listed by awscli. */
export async function awsList(bucket: string): Promise<string[]> {
  const out = new TextDecoder().decode(
    await aws(["s3api", "list-objects-v2", "--bucket", bucket, "--output", "json"]),
  );
  if (out.trim() === "") return [];
  const listing = JSON.parse(out) as { Contents?: Array<{ Key: string }> };
  return (listing.Contents ?? []).map((c) => c.Key);
}

/** An object's bytes, downloaded by awscli. */
export function awsGet(bucket: string, key: string): Promise<Uint8Array> {
  return aws(["s3", "cp", `s3://${bucket}/${key}`, "-"]);
}

/** An object's bytes, downloaded by the minio client. */
export async function minioGet(bucket: string, key: string): Promise<Uint8Array> {
  const stream = await s3Client().getObject(bucket, key);
  const parts: Uint8Array[] = [];
  for await (const chunk of stream) parts.push(chunk as Uint8Array);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const SERVER = new URL("./s3/server.sh", import.meta.url).pathname;

async function server(action: string, dir: string): Promise<void> {
  const out = await new Deno.Command("bash", {
    args: [SERVER, action, dir],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(`server.sh ${action}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** A private S3 server, for tests that stop and start it while the shared one serves others. */
export interface PrivateS3 {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  dir: string;
  client: Client;
  /** Stops or starts radosgw alone (the monitor and OSD keep running). */
  rgw(action: "stop" | "start" | "kill"): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts a private single-node radosgw (about 2 s). */
export async function startPrivateS3(): Promise<PrivateS3> {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "hs3p." });
  await server("start", dir);
  const env = Object.fromEntries(
    (await Deno.readTextFile(`${dir}/env`)).trim().split("\n").map((l) => {
      const i = l.indexOf("=");
      return [l.slice(0, i), l.slice(i + 1)];
    }),
  );
  const url = new URL(env.S3_ENDPOINT!);
  return {
    endpoint: env.S3_ENDPOINT!,
    accessKey: env.S3_ACCESS_KEY!,
    secretKey: env.S3_SECRET_KEY!,
    dir,
    client: new Client({
      endPoint: url.hostname,
      port: Number(url.port),
      useSSL: false,
      accessKey: env.S3_ACCESS_KEY!,
      secretKey: env.S3_SECRET_KEY!,
      pathStyle: true,
      region: "us-east-1",
    }),
    rgw: (action) => server(`${action}-rgw`, dir),
    [Symbol.asyncDispose]: () => server("stop", dir),
  };
}

/** Gunzips bytes. */
export async function gunzip(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(
    new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A proxy in front of the S3 server that can answer a request with an S3 error instead. */
export interface FaultProxy {
  endpoint: string;
  /** Decides each request: `undefined` passes it on, a status answers with that S3 error. */
  fail(decide: (method: string, n: number) => { status: number; code: string } | undefined): void;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts a proxy to the S3 test server on 127.0.0.1. Requests pass unchanged (the Host header
 * too, so SigV4 signatures still verify) unless `fail` says to answer with an S3 error body, the
 * way S3 itself sends one.
 */
export async function startFaultProxy(): Promise<FaultProxy> {
  const { default: http } = await import("node:http");
  const target = new URL(s3Env().endpoint);
  let decide: (method: string, n: number) => { status: number; code: string } | undefined = () =>
    undefined;
  let n = 0;
  const server = http.createServer((req, res) => {
    const fault = decide(req.method ?? "", n++);
    if (fault) {
      req.resume();
      res.writeHead(fault.status, { "Content-Type": "application/xml" });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>fault-${n}</RequestId></Error>`,
      );
      return;
    }
    const upstream = http.request({
      host: target.hostname,
      port: Number(target.port),
      method: req.method,
      path: req.url,
      headers: req.headers,
    }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    fail: (d) => (decide = d),
    async [Symbol.asyncDispose]() {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
