/**
 * hitship's HTTP/1.1 request parsing against llhttp, Node's parser, on at least 200 raw requests:
 * every framing case of the hostile-senders issue and mutations of valid requests. Both servers
 * answer 200 with the body they read for `POST`, `PUT` or `GET` of `/hits`; each request goes to
 * each over its own connection. They must agree on every one: served or refused, and when served,
 * the same body bytes. Node comes with npm, so it is on every machine that installs Deno this way;
 * without it the test is skipped and says so.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { serveBounded } from "../src/base/http/server.ts";
import { handCases, mutations, type RawRequest } from "./http_corpus.ts";

const dec = new TextDecoder();

function hasNode(): boolean {
  try {
    return new Deno.Command("node", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Sends raw bytes, closes the writing side, reads the answer to the end. */
async function exchange(port: number, bytes: Uint8Array): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(bytes).catch(() => {});
    await conn.closeWrite().catch(() => {});
    let text = "";
    const buffer = new Uint8Array(8192);
    const deadline = setTimeout(() => conn.close(), 3000);
    try {
      for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
        text += dec.decode(buffer.subarray(0, n));
      }
    } catch {
      // reset, or closed by the deadline
    } finally {
      clearTimeout(deadline);
    }
    return text;
  } finally {
    try {
      conn.close();
    } catch {
      // closed already
    }
  }
}

/** The verdict of an answer: the body it read when served (base64), or "refused". */
function verdict(answer: string): string {
  answer = answer.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, "");
  const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1];
  if (status !== "200") return "refused";
  return /\{"body":"([^"]*)"\}/.exec(answer)?.[1] ?? "unreadable answer";
}

/**
 * Where hitship refuses what llhttp takes, on purpose: each a MUST of RFC 9112 that llhttp leaves
 * to the application. Nothing llhttp refuses may be served by hitship.
 */
const STRICTER: Array<{ rule: string; holds: (text: string) => boolean }> = [
  {
    rule: "RFC 9112 §3.2: more than one Host field is refused",
    holds: (text) => (head(text).match(/\r\nhost:/gi)?.length ?? 0) > 1,
  },
  {
    rule: "RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 request is faulty framing",
    holds: (text) =>
      /^\S+ \S+ HTTP\/1\.0\r\n/.test(text) && /\r\ntransfer-encoding:/i.test(head(text)),
  },
  {
    rule: "RFC 9112 §6.1: a transfer coding other than chunked is not served (501)",
    holds: (text) =>
      [...head(text).matchAll(/\r\ntransfer-encoding:([^\r]*)/gi)].some((m) =>
        m[1]!.split(",").some((c) => c.trim() !== "" && c.trim().toLowerCase() !== "chunked")
      ),
  },
  {
    rule: "RFC 9112 §7.1.1: a chunk extension's name and value are tokens or quoted strings",
    holds: (text) =>
      /\r\n\r\n[\s\S]*?(^|\r\n)[0-9a-fA-F]+;(=|[^\r]*=(;|\r))/.test(text) &&
      /\r\ntransfer-encoding:/i.test(head(text)),
  },
  {
    rule: "RFC 9112 §2.3, §3: only HTTP/1.0 and HTTP/1.1 request lines of three parts",
    holds: (text) => !/^[^ \r\n]+ [^ \r\n]+ HTTP\/1\.[01]\r\n/.test(text.replace(/^(\r\n)+/, "")),
  },
];

/** The head of a raw request, as text. */
function head(text: string): string {
  const end = text.indexOf("\r\n\r\n");
  return end < 0 ? text : text.slice(0, end + 2);
}

Deno.test({
  name: hasNode()
    ? "HTTP parsing: hitship and llhttp (Node) agree on 200+ raw requests: served or refused, and the body"
    : "HTTP parsing against llhttp: SKIPPED, node is not on PATH",
  ignore: !hasNode(),
  async fn() {
    const node = new Deno.Command("node", {
      args: ["--no-deprecation", new URL("./testdata/llhttp_oracle.cjs", import.meta.url).pathname],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = node.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(lineStream())
      .getReader();
    const writer = node.stdin.getWriter();
    const ask = async (bytes: Uint8Array) => {
      await writer.write(new TextEncoder().encode(Buffer.from(bytes).toString("base64") + "\n"));
      return JSON.parse((await lines.read()).value!) as {
        served: boolean;
        body?: string;
        error?: string;
      };
    };
    const hello = JSON.parse((await lines.read()).value!);
    const server = serveBounded({
      hostname: "127.0.0.1",
      port: 0,
      paths: ["/hits"],
      methods: ["GET", "POST", "PUT"],
      maxBodyBytes: 1024 * 1024,
    }, ({ body }) => ({
      status: 200,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ body: Buffer.from(body).toString("base64") }),
    }));
    try {
      const corpus: RawRequest[] = [
        ...handCases(),
        ...mutations(
          Number(Deno.env.get("HTTP_MUTATIONS") ?? 600),
          Number(Deno.env.get("HTTP_SEED") ?? 9),
        ),
      ];
      assert.ok(corpus.length >= 200);
      const disagreements: string[] = [];
      const stricter = new Map<string, number>();
      let served = 0;
      for (const request of corpus) {
        const ours = await exchange(server.port, request.bytes);
        const theirs = await ask(request.bytes);
        const a = verdict(ours);
        const b = theirs.served ? theirs.body! : "refused";
        if (a !== "refused") served++;
        if (a === b) continue;
        const text = dec.decode(request.bytes);
        const rule = a === "refused" && b !== "refused"
          ? STRICTER.find((r) => r.holds(text))?.rule
          : undefined;
        if (rule) {
          stricter.set(rule, (stricter.get(rule) ?? 0) + 1);
          continue;
        }
        disagreements.push(
          `${request.name}: hitship ${a === "refused" ? status(ours) : "served"}, ` +
            `llhttp ${b === "refused" ? theirs.error : "served"} ${JSON.stringify(text)}`,
        );
      }
      console.log(
        `${corpus.length} requests (${served} served by hitship), llhttp ${hello.llhttp} of Node ` +
          `${hello.node}: ${disagreements.length} disagreements; refused by hitship alone, by rule: ` +
          JSON.stringify(Object.fromEntries(stricter)),
      );
      assert.deepEqual(disagreements, []);
    } finally {
      await server.shutdown();
      await writer.close();
      await node.status;
      await lines.cancel().catch(() => {});
    }
  },
});

/** The status line of an answer after any 100 Continue, or "closed". */
function status(answer: string): string {
  return answer.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, "").split("\r\n")[0] || "closed";
}

/** Splits text into lines. */
function lineStream(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const part of parts) controller.enqueue(part);
    },
  });
}
