/**
 * The `file` output: each batch becomes one file in a directory, named from the `key` template
 * and written atomically. It is the built-in default, so hitship works with no server at all.
 *
 * @module
 */
import { z } from "zod";
import { batchBody, batchOptionsOf, batchShape, bodyStream } from "../../src/batch.ts";
import { DirectAppender } from "../../src/direct.ts";
import { joinPath, writeAll } from "../../src/fs.ts";
import { definePlugin, type Output, type SendResult } from "../../src/plugin.ts";
import type { Batch, SystemEvent } from "../../src/plugin.ts";

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

class FileOutput implements Output {
  readonly #config: FileOutputConfig;
  constructor(config: FileOutputConfig) {
    this.#config = config;
  }

  async send(batch: Batch): Promise<SendResult> {
    const target = joinPath(this.#config.path, batch.key);
    const dir = target.slice(0, target.lastIndexOf("/"));
    const tmp = `${dir}/.${target.slice(dir.length + 1)}.tmp-${Deno.pid}-${tmpCounter++}`;
    try {
      await Deno.mkdir(dir, { recursive: true });
      const { format, compression } = this.#config;
      const body = compression === "none"
        ? batchBody(batch, format, true)
        : bodyStream(batchBody(batch, format), compression);
      const direct = this.#config.direct_io ? DirectAppender.open(tmp, 0, dir) : undefined;
      if (direct) {
        try {
          for await (const chunk of body) direct.write(chunk);
        } finally {
          direct.close();
        }
      } else {
        const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
        try {
          for await (const chunk of body) await writeAll(file, chunk);
        } finally {
          file.close();
        }
      }
      await Deno.rename(tmp, target);
      return { ok: true, detail: target };
    } catch (error) {
      await Deno.remove(tmp).catch(() => {});
      return { ok: false, error: `Cannot write "${target}": ${(error as Error).message}` };
    }
  }

  async sendEvent(event: SystemEvent): Promise<SendResult> {
    const target = joinPath(this.#config.path, "events.ndjson");
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
    const target = joinPath(this.#config.path, `.hitship-test-${Deno.pid}`);
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
  supportedEvents: ["hits", "system", "alerts", "report"],
  defaultEvents: ["hits"],
  batchOptions: batchOptionsOf,
  create: (config) => new FileOutput(config),
});
