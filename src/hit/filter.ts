/**
 * Output filters: a hit goes to an output only if it matches every field the filter gives.
 *
 * @module
 */
import { BlockList, isIP } from "node:net";
import { z } from "zod";

const RANGE = /^(\d{3})-(\d{3})$/;
const CIDR = /^(.+)\/(\d{1,3})$/;

function validCidr(text: string): boolean {
  const match = CIDR.exec(text);
  const ip = match ? match[1]! : text;
  const version = isIP(ip);
  if (version === 0) return false;
  if (!match) return true;
  const bits = Number(match[2]);
  return bits <= (version === 4 ? 32 : 128);
}

const strings = (description: string, example: string[]) =>
  z.array(z.string()).min(1).optional().meta({ description, examples: [example] });

/** The `filter` block of an output. */
export const filterSchema = z.strictObject({
  attack_type: strings("Attack types to pass (`sqli`, `rce`, `xss`, ...)", ["sqli", "rce"]),
  block_status: strings("Block statuses to pass (`blocked`, `monitored`, ...)", ["blocked"]),
  method: strings("HTTP methods to pass", ["POST", "PUT"]),
  domain: strings(
    "Domains to pass: exact, or `*.example.com` for every subdomain",
    ["shop.example.com", "*.example.org"],
  ),
  application_id: z.array(z.int()).min(1).optional().meta({
    description: "Application ids to pass; a hit matches when any of its ids is listed",
    examples: [[1, 42]],
  }),
  status_code: z.array(
    z.union([
      z.int(),
      z.string().regex(RANGE, { error: 'expected a status code or a range like "400-499"' }),
    ]),
  ).min(1).optional().meta({
    description: "Response status codes to pass: codes or inclusive ranges",
    examples: [[403, "500-599"]],
  }),
  ip: z.array(
    z.string().refine(validCidr, { error: "expected an IP address or a CIDR block" }),
  ).min(1).optional().meta({
    description: "Client addresses to pass: IPv4/IPv6 addresses or CIDR blocks",
    examples: [["10.0.0.0/8", "2001:db8::/32"]],
  }),
}).meta({ description: "Pass only hits that match every field given" });

/** An output's or alert's `filter`: a hit passes when it matches every field given. */
export interface FilterConfig {
  /** Attack types to pass. */
  attack_type?: string[];
  /** Block statuses to pass. */
  block_status?: string[];
  /** HTTP methods to pass. */
  method?: string[];
  /** Domains to pass: exact, or `*.example.com` for every subdomain. */
  domain?: string[];
  /** Application ids to pass; a hit matches when any of its ids is listed. */
  application_id?: number[];
  /** Response status codes to pass: codes, or inclusive ranges like `"500-599"`. */
  status_code?: Array<number | string>;
  /** Client addresses to pass: IPv4/IPv6 addresses or CIDR blocks. */
  ip?: string[];
}

// The schema resolves to this type: a change to one that the other lacks does not compile.
const _filter: (resolved: z.output<typeof filterSchema>) => FilterConfig = (f) => f;
void _filter;

/** A compiled filter: true when the hit passes. */
export type HitFilter = (hit: Record<string, unknown>) => boolean;

/**
 * Compiles a filter config into a predicate.
 *
 * @returns The predicate, or `undefined` when the filter passes everything.
 *
 * @example
 * ```ts
 * import { compileFilter } from "./filter.ts";
 * const pass = compileFilter({ attack_type: ["sqli"] })!;
 * pass({ attack_type: "sqli" }); // true
 * ```
 */
export function compileFilter(filter: FilterConfig | undefined): HitFilter | undefined {
  if (!filter) return undefined;
  const tests: HitFilter[] = [];
  const oneOf = (field: string, values: string[] | undefined) => {
    if (!values) return;
    const set = new Set(values);
    tests.push((hit) => set.has(hit[field] as string));
  };
  oneOf("attack_type", filter.attack_type);
  oneOf("block_status", filter.block_status);
  if (filter.method) {
    const set = new Set(filter.method.map((m) => m.toUpperCase()));
    tests.push((hit) => typeof hit.method === "string" && set.has(hit.method.toUpperCase()));
  }
  if (filter.domain) {
    const exact = new Set<string>();
    const suffixes: string[] = [];
    for (const d of filter.domain) {
      if (d.startsWith("*.")) suffixes.push(d.slice(1).toLowerCase());
      else exact.add(d.toLowerCase());
    }
    tests.push((hit) => {
      if (typeof hit.domain !== "string") return false;
      const domain = hit.domain.toLowerCase();
      return exact.has(domain) || suffixes.some((s) => domain.endsWith(s));
    });
  }
  if (filter.application_id) {
    const set = new Set(filter.application_id);
    tests.push((hit) =>
      Array.isArray(hit.application_id) && hit.application_id.some((id) => set.has(id))
    );
  }
  if (filter.status_code) {
    const codes = new Set<number>();
    const ranges: Array<[number, number]> = [];
    for (const c of filter.status_code) {
      if (typeof c === "number") codes.add(c);
      else {
        const [, lo, hi] = RANGE.exec(c)!;
        ranges.push([Number(lo), Number(hi)]);
      }
    }
    tests.push((hit) => {
      const code = hit.status_code as number;
      return codes.has(code) || ranges.some(([lo, hi]) => code >= lo && code <= hi);
    });
  }
  if (filter.ip) {
    const list = new BlockList();
    for (const entry of filter.ip) {
      const match = CIDR.exec(entry);
      const ip = match ? match[1]! : entry;
      const type = isIP(ip) === 4 ? "ipv4" : "ipv6";
      if (match) list.addSubnet(ip, Number(match[2]), type);
      else list.addAddress(ip, type);
    }
    tests.push((hit) => {
      const ip = hit.ip;
      if (typeof ip !== "string") return false;
      const version = isIP(ip);
      return version !== 0 && list.check(ip, version === 4 ? "ipv4" : "ipv6");
    });
  }
  if (tests.length === 0) return undefined;
  return (hit) => tests.every((test) => test(hit));
}
