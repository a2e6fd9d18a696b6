/**
 * The `file` input: tails the node's hit log. It follows appends (file-system events, with a
 * polling fallback), finishes a file that was renamed away before opening the new one at the path
 * (rotation), starts over when the file shrinks (copytruncate), and resumes after a restart from
 * its checkpoint: the file's identity and the offset past its last journaled line.
 *
 * @module
 */
import { defineInput, duration, type InputEvent, type JsonValue, z } from "@hitship/hitship/sdk";
import { type FileState, tailFile } from "./tail.ts";

/** The config fields of a `file` input. */
export const fileInputSchema = z.strictObject({
  path: z.string().min(1).meta({
    description: "The node's hit log",
    examples: ["/var/log/wallarm/hits.ndjson"],
  }),
  start_at: z.enum(["beginning", "end"]).default("beginning").meta({
    description: "Where to start on the first run (later runs resume from the checkpoint)",
  }),
  follow: z.boolean().default(true).meta({
    description: "Keep following appends; false reads to the end, flushes and exits",
  }),
  poll_interval: duration({ min: 10, max: 3_600_000 }).prefault("500ms").meta({
    description: "How often the file is read while writes come faster than this (and where the " +
      "filesystem gives no change events); otherwise it is read on each change event and " +
      "checked every 2 s at least",
  }),
});

const asJson = (state: FileState) => ({ ...state }) as JsonValue;

/** The `file` input plugin. */
export const fileInput = defineInput({
  type: "file",
  description: "Tail a file",
  schema: fileInputSchema,
  async *open(config, context): AsyncGenerator<InputEvent> {
    const { signal } = context;
    let last: FileState | undefined;
    const events = tailFile({
      path: config.path,
      startAt: config.start_at,
      follow: config.follow,
      pollInterval: config.poll_interval,
      checkpoint: context.checkpoint as FileState | null,
      logger: context.logger,
      clock: context.clock,
    }, signal);
    for await (const event of events) {
      const file = event.file;
      last = file;
      if (event.kind === "data") {
        yield {
          kind: "data",
          data: event.data,
          // Up to the last complete line: an incomplete one is read again after a restart.
          checkpoint: (held) => asJson({ ...file, offset: file.offset - held }),
          resumed: event.resumed,
          offset: file.offset,
        };
      } else if (event.kind === "rotated") {
        yield { kind: "end", next: true, checkpoint: asJson(file) };
      } else yield { kind: "discard", checkpoint: asJson(file) };
    }
    // Read once to its end: a last line without a newline is complete. Following, it waits.
    if (!signal.aborted) yield { kind: "end", checkpoint: last ? asJson(last) : undefined };
  },
});
