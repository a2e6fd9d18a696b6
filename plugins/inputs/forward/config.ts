/**
 * The config of a `forward` input: its schema, which is also its documentation.
 *
 * @module
 */
import { byteSize, duration, listenAddress, z } from "@hitship/hitship/sdk";

/** The config fields of a `forward` input. */
export const forwardInputSchema = z.strictObject({
  listen: listenAddress("127.0.0.1:24224").default("127.0.0.1:24224").meta({
    description: "Address to listen on",
    examples: ["0.0.0.0:24224"],
  }),
  shared_key: z.string().min(1).optional().meta({
    description: "Shared key of the handshake (Fluent Bit `Shared_Key`, Fluentd `<security>`; " +
      "use ${ENV_VAR}); never logged. Without it, anyone who reaches the port may send",
    examples: ["${HITSHIP_FORWARD_KEY}"],
  }),
  self_hostname: z.string().min(1).default("hitship").meta({
    description: "The name this end gives in the handshake (it must differ from the sender's)",
  }),
  tls: z.strictObject({
    cert_file: z.string().min(1).meta({ description: "PEM certificate (chain) of the server" }),
    key_file: z.string().min(1).meta({ description: "PEM private key of the server" }),
  }).optional().meta({ description: "Serve TLS (Fluent Bit `tls on`)" }),
  tags: z.array(z.string().min(1)).min(1).optional().meta({
    description: "Take only records of these tags (`*` matches any part); others are answered " +
      "and dropped. Default: every tag",
    examples: [["wallarm.hits", "node.*"]],
  }),
  max_message_bytes: byteSize({ min: 1024, max: 1024 ** 3 }).prefault("16MiB").meta({
    description: "Largest message (packed or unpacked); a larger one closes the connection",
  }),
  max_buffered_bytes: byteSize({ min: 1024 * 1024, max: 16 * 1024 ** 3 }).prefault("64MiB").meta({
    description: "Bytes of messages still arriving held at once over all connections (each " +
      "connection has 64 KiB of its own besides); a connection whose message would pass it is " +
      "closed with a logged reason, and its sender sends again (one is always taken)",
  }),
  max_connections: z.int().min(1).max(10_000).default(256).meta({
    description: "Connections at once; at the limit the connection that has made no progress " +
      "for longest (at least 1 s) is closed to take a new one, else the new one is closed",
  }),
  handshake_timeout: duration({ min: 100 }).prefault("10s").meta({
    description: "Time for the sender's PING after the HELO",
  }),
  message_timeout: duration({ min: 100 }).prefault("60s").meta({
    description: "Longest time for a message to arrive whole once it began; a connection that " +
      "takes longer is closed (its sender sends again)",
  }),
  min_message_rate: byteSize({ min: 1, max: 1024 ** 3 }).prefault("1KiB").meta({
    description: "Bytes per second a message must arrive at, on average, after its first 10 s; " +
      "a slower connection is closed, so stalled senders cannot hold slots and memory",
  }),
  idle_timeout: duration({ min: 100 }).prefault("60s").meta({
    description: "Time a connection may wait between messages (and to take an ack) before it " +
      "is closed; senders open a new one",
  }),
});

/** A resolved `forward` input config. */
export type ForwardInputConfig = z.output<typeof forwardInputSchema>;
