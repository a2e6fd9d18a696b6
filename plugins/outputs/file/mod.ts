/**
 * The `file` output: each batch becomes one file in a directory, named from the `key` template
 * and written atomically. It is the built-in default, so hitship works with no server at all.
 *
 * @module
 */
import { join, resolve } from "node:path";
import {
  type Batch,
  batchBody,
  batchOptionsOf,
  batchShape,
  bodyStream,
  definePlugin,
  EVENT_KINDS,
  openFileWriter,
  type Output,
  type SendResult,
  type SystemEvent,
  unsafeKey,
  withExtension,
  z,
} from "@hitship/hitship/sdk";

/** The config fields of a `file` output. */
export const fileOutputSchema = z.strictObject({
  path: z.string().min(1).meta({
    description: "Directory the files are written into (created when missing)",
    examples: ["/var/lib/hitship/export"],
  }),
  direct_io: z.boolean().default(true).meta({
    description:
      "Write the files with direct I/O (O_DIRECT), past the page cache, where the filesystem allows it",
  }),
  ...batchShape,
});

/** A resolved `file` output config. */
export type FileOutputConfig = z.output<typeof fileOutputSchema>;

let tmpCounter = 0;
/** Names tried past a taken one before a send fails. */
const MAX_SUFFIXES = 1000;

/**
 * Gives `tmp` the name `target` unless that name exists: a hard link fails when it does, where a
 * rename would replace it. Where the filesystem has no hard links, a check, then a rename.
 *
 * @returns False when the name is taken.
 */
async function createOnly(tmp: string, target: string): Promise<boolean> {
  try {
    await Deno.link(tmp, target);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    if (error instanceof Deno.errors.NotFound) throw error;
  }
  if (await Deno.lstat(target).then(() => true, () => false)) return false;
  await Deno.rename(tmp, target);
  return true;
}

/** Reads into `buffer` from `offset` until it is full or the file ends. */
function readFull(file: Deno.FsFile, offset: number, buffer: Uint8Array): number {
  file.seekSync(offset, Deno.SeekMode.Start);
  let filled = 0;
  for (let n = file.readSync(buffer); n; n = file.readSync(buffer.subarray(filled))) {
    filled += n;
    if (filled === buffer.length) break;
  }
  return filled;
}

/** Whether two files hold the same bytes. */
async function sameContent(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([Deno.stat(a), Deno.stat(b)]);
  if (sa.size !== sb.size) return false;
  using fa = await Deno.open(a);
  using fb = await Deno.open(b);
  const ba = new Uint8Array(1024 * 1024);
  const bb = new Uint8Array(1024 * 1024);
  for (let at = 0; at < sa.size; at += ba.length) {
    const n = readFull(fa, at, ba);
    if (readFull(fb, at, bb) !== n) return false;
    for (let i = 0; i < n; i++) if (ba[i] !== bb[i]) return false;
  }
  return true;
}

class FileOutput implements Output {
  readonly #config: FileOutputConfig;
  constructor(config: FileOutputConfig) {
    this.#config = config;
  }

  /** Where a key goes: under `path`, never outside it. */
  #target(key: string): string {
    const root = resolve(this.#config.path);
    const target = resolve(root, key);
    const why = unsafeKey(key);
    if (why || !target.startsWith(root + "/")) {
      throw new Error(`Cannot write "${key}" under "${root}": ${why ?? "it leaves the directory"}`);
    }
    return target;
  }

  async send(batch: Batch): Promise<SendResult> {
    let target: string;
    try {
      target = this.#target(batch.key);
    } catch (error) {
      return { ok: false, error: (error as Error).message };
    }
    const dir = target.slice(0, target.lastIndexOf("/"));
    const tmp = `${dir}/.${target.slice(dir.length + 1)}.tmp-${Deno.pid}-${tmpCounter++}`;
    try {
      await Deno.mkdir(dir, { recursive: true });
      const { format, compression } = this.#config;
      const body = compression === "none"
        ? batchBody(batch, format, true)
        : bodyStream(batchBody(batch, format), compression);
      const file = await openFileWriter(tmp, { directIO: this.#config.direct_io });
      try {
        for await (const chunk of body) await file.write(chunk);
      } finally {
        file.close();
      }
      // Never over a file this batch did not write: the name goes to the next free suffix.
      for (let taken = 0; taken < MAX_SUFFIXES; taken++) {
        if (await createOnly(tmp, target)) return { ok: true, detail: target };
        if (await sameContent(tmp, target)) {
          return { ok: true, detail: `${target} (written before)` };
        }
        if (!batch.nextKey) break;
        target = this.#target(await batch.nextKey());
      }
      return { ok: false, error: `Cannot write "${target}": the name is taken` };
    } catch (error) {
      return { ok: false, error: `Cannot write "${target}": ${(error as Error).message}` };
    } finally {
      await Deno.remove(tmp).catch(() => {});
    }
  }

  async sendEvent(event: SystemEvent): Promise<SendResult> {
    const target = join(this.#config.path, "events.ndjson");
    try {
      await Deno.mkdir(this.#config.path, { recursive: true });
      const record = {
        time: new Date(event.time).toISOString(),
        notification_type: event.name,
        summary: event.summary,
        details: event.details,
      };
      await Deno.writeTextFile(target, JSON.stringify(record) + "\n", { append: true });
      return { ok: true };
    } catch (error) {
      return { ok: false, error: `Cannot write "${target}": ${(error as Error).message}` };
    }
  }

  async test(): Promise<SendResult> {
    const target = join(this.#config.path, `.hitship-test-${Deno.pid}`);
    try {
      await Deno.mkdir(this.#config.path, { recursive: true });
      await Deno.writeTextFile(target, "[Test message]\n");
      await Deno.remove(target);
      return { ok: true, detail: `wrote and removed "${target}"` };
    } catch (error) {
      return { ok: false, error: `Cannot write "${target}": ${(error as Error).message}` };
    }
  }
}

/** The `file` output plugin. */
export const fileOutput = definePlugin({
  type: "file",
  description: "Writes each batch as a file in a local directory",
  schema: fileOutputSchema,
  supportedEvents: EVENT_KINDS,
  defaultEvents: ["hits"],
  batchOptions: batchOptionsOf,
  create: (config) => new FileOutput(config),
  destination: (config, name) =>
    `file:${resolve(config.path)}/${
      withExtension(config.key.replaceAll("{output}", name), config.format, config.compression)
    }`,
});
