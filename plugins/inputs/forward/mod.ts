/**
 * The `forward` input: the Forward protocol v1 that Fluent Bit's and Fluentd's `forward` outputs
 * speak. Message, Forward, PackedForward and CompressedPackedForward modes; integer and EventTime
 * times; the `chunk` option answered with `{ack: chunk}` only once the records are journaled, so
 * a sender whose connection breaks before the ack sends them again; an optional shared-key
 * handshake (HELO, PING, PONG) and TLS. Each record is a hit: it becomes one JSON line (keys in
 * their order, numbers as numbers), checked and journaled like a line from stdin; the tag stays out
 * of it.
 *
 * @module
 */
import { defineInput } from "@hitship/hitship/sdk";
import { forwardInputSchema } from "./config.ts";

export { type ForwardInputConfig, forwardInputSchema } from "./config.ts";

/** The `forward` input plugin. */
export const forwardInput = defineInput({
  type: "forward",
  description: "Receive hits over the Forward protocol (Fluent Bit, Fluentd)",
  schema: forwardInputSchema,
  async open(config, context): Promise<void> {
    // The protocol's code and its msgpack library load when a forward input runs (15-20 ms of
    // start-up otherwise).
    const { serve } = await import("./server.ts");
    await serve(config, context);
  },
});
