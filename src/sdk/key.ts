/**
 * Key templates: how a batch's export is named (`hitlogs-{timestamp}.json`), made distinct
 * (`-1`, `-2`), and kept inside its place.
 *
 * @module
 */
import type { Compression, Format } from "./body.ts";

/** A `{placeholder}` in a key template. */
export const PLACEHOLDER = /\{([a-z_]+)\}/g;
/** The placeholders a key template may use. */
export const KEY_FIELDS = ["timestamp", "hostname", "date", "seq", "output"];

/**
 * Why a key (a template, or a rendered name) could leave its place, or `undefined` when it cannot:
 * a `..` or `.` segment, a leading `/`, a backslash or a control character.
 */
export function unsafeKey(key: string): string | undefined {
  if (key === "") return "it is empty";
  if (key.startsWith("/")) return 'it starts with "/"';
  if (key.includes("\\")) return "it holds a backslash";
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) return "it holds a control character";
  if (key.split("/").some((part) => part === ".." || part === ".")) {
    return 'it holds a "." or ".." segment';
  }
  return undefined;
}

/** Values for a key template. */
export interface KeyValues {
  /** Export time, Unix milliseconds. */
  time: number;
  /** The host's name (made safe for a key). */
  hostname: string;
  /** The batch's sequence number within its output. */
  seq: number;
  /** The output's name. */
  output?: string;
}

/** A hostname as it goes into a key: letters, digits, `.`, `_` and `-`; anything else is `_`. */
export function keySafeHostname(hostname: string): string {
  const safe = hostname.replace(/[^A-Za-z0-9._-]/g, "_");
  return safe === "" || /^\.+$/.test(safe) ? "_" : safe;
}

/** A template's name with its extension fixed for the format and compression. */
export function withExtension(
  key: string,
  format: Format = "json",
  compression: Compression = "none",
): string {
  if (format === "jsonl" && key.endsWith(".json")) key += "l";
  if (compression === "gzip" && !key.endsWith(".gz")) key += ".gz";
  return key;
}

/**
 * Renders a key template and fixes its extension for the format and compression.
 *
 * @example
 * ```ts
 * import { renderKey } from "./batch.ts";
 * renderKey("hitlogs-{timestamp}.json", { time: 1687241470000, hostname: "h", seq: 1 }, "jsonl", "gzip");
 * // "hitlogs-1687241470.jsonl.gz"
 * ```
 */
export function renderKey(
  template: string,
  values: KeyValues,
  format: Format = "json",
  compression: Compression = "none",
): string {
  const date = new Date(values.time);
  const pad = (n: number) => String(n).padStart(2, "0");
  const key = template.replace(PLACEHOLDER, (_, field: string) => {
    switch (field) {
      case "timestamp":
        return String(Math.floor(values.time / 1000));
      case "hostname":
        return keySafeHostname(values.hostname);
      case "date":
        return `${date.getUTCFullYear()}/${pad(date.getUTCMonth() + 1)}/${pad(date.getUTCDate())}`;
      case "output":
        return values.output ?? "";
      default:
        return String(values.seq);
    }
  });
  return withExtension(key, format, compression);
}

/**
 * Makes a key distinct from the previous one of the same output: `hitlogs-1687241470.json`
 * twice in one second becomes `hitlogs-1687241470-1.json`.
 *
 * @param n How many earlier batches had the same base key (0 for the first).
 */
export function withSuffix(key: string, n: number): string {
  if (n === 0) return key;
  const slash = key.lastIndexOf("/");
  const dot = key.indexOf(".", slash + 1);
  return dot < 0 ? `${key}-${n}` : `${key.slice(0, dot)}-${n}${key.slice(dot)}`;
}
