/**
 * `host:port` listen addresses in configs: the schema every listener shares, and the split that
 * `Deno.listen` wants.
 *
 * @module
 */
import { z } from "zod";

/** A `host:port` string (`[::1]:9464` for IPv6); `example` goes into the error. */
export function listenAddress(example: string): z.ZodString {
  return z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:]+):\d{1,5}$/, {
    error: `expected host:port, e.g. ${example}`,
  });
}

/** The host (without IPv6 brackets) and port of a `host:port` address. */
export function splitAddress(listen: string): { hostname: string; port: number } {
  const colon = listen.lastIndexOf(":");
  return {
    hostname: listen.slice(0, colon).replace(/^\[|\]$/g, ""),
    port: Number(listen.slice(colon + 1)),
  };
}
