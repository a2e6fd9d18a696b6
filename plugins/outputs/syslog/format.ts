/**
 * Syslog messages of hits: RFC 5424 (structured data with the hit's key fields, the hit as MSG),
 * RFC 3164, CEF (ArcSight) and LEEF 1.0 (QRadar). In every format the whole hit is in the
 * message as the node wrote it (CEF and LEEF: in their `msg` / `hit` field), so it parses back.
 *
 * @module
 */
import type { HitFields } from "@hitship/hitship/sdk";

/** The formats. */
export const SYSLOG_FORMATS = ["rfc5424", "rfc3164", "cef", "leef"] as const;
/** A format. */
export type SyslogFormat = typeof SYSLOG_FORMATS[number];

/** Facilities by name (RFC 5424 table 1). */
export const FACILITIES: Record<string, number> = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  ntp: 12,
  security: 13,
  console: 14,
  solaris_cron: 15,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};

/** Syslog severity of a hit: a blocked attack is a warning (4), one let through a notice (5). */
export function severityOf(blockStatus: unknown): number {
  return blockStatus === "blocked" ? 4 : 5;
}

/** CEF/LEEF severity (0-10) of a hit. */
function eventSeverity(blockStatus: unknown): number {
  return blockStatus === "blocked" ? 7 : blockStatus === "monitored" ? 5 : 3;
}

/** What the header of every message says. */
export interface MessageContext {
  facility: number;
  hostname: string;
  appName: string;
  /** hitship's version, for CEF and LEEF headers. */
  version: string;
}

/** The SD-ID of the hit's structured data: `hit@32473` (32473: the documentation enterprise number). */
const SD_ID = "hit@32473";
const SD_FIELDS = [
  "request_id",
  "ip",
  "domain",
  "method",
  "uri",
  "status_code",
  "attack_type",
  "block_status",
] as const;

/** A PARAM-VALUE (RFC 5424 6.3.3): `"`, `\` and `]` escaped, control characters as `\uXXXX`. */
function sdValue(value: unknown): string {
  return String(value).replace(/["\\\]]/g, (c) => `\\${c}`).replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** An RFC 5424 header field: printable US-ASCII, at most `max`, `-` when empty. */
function headerField(value: string, max: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, "_").slice(0, max);
  return clean || "-";
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** `Mmm dd hh:mm:ss` (RFC 3164), UTC. */
function bsdTime(seconds: number): string {
  const d = new Date(seconds * 1000);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, " ")} ${
    two(d.getUTCHours())
  }:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
}

/** A CEF header field: `|` and `\` escaped. */
function cefHeader(value: unknown): string {
  return String(value).replace(/[|\\]/g, (c) => `\\${c}`).replace(/[\r\n]/g, " ");
}

/** A CEF extension value: `=`, `\` escaped, line breaks as `\n` / `\r`. */
function cefValue(value: unknown): string {
  return String(value).replace(/[=\\]/g, (c) => `\\${c}`).replace(/\n/g, "\\n").replace(
    /\r/g,
    "\\r",
  );
}

/** A LEEF 1.0 value: tabs and line breaks (the delimiters) as spaces. */
function leefValue(value: unknown): string {
  return String(value).replace(/[\t\r\n]/g, " ");
}

/**
 * The syslog message of one hit or event (without framing).
 *
 * @param line The record: a hit line, or an event as one JSON object.
 * @param fields Its parsed fields.
 * @param seconds Its time, Unix seconds.
 * @param msgId `hit` or the event's name.
 */
export function formatMessage(
  format: SyslogFormat,
  context: MessageContext,
  line: string,
  fields: Partial<HitFields>,
  seconds: number,
  msgId: string,
): string {
  const pri = `<${context.facility * 8 + severityOf(fields.block_status)}>`;
  const host = headerField(context.hostname, 255);
  const app = headerField(context.appName, 48);
  if (format === "rfc5424") {
    const time = new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
    const params = SD_FIELDS.filter((f) => fields[f] !== undefined && fields[f] !== null)
      .map((f) => `${f}="${sdValue(fields[f])}"`);
    const sd = params.length > 0 ? `[${SD_ID} ${params.join(" ")}]` : "-";
    return `${pri}1 ${time} ${host} ${app} - ${headerField(msgId, 32)} ${sd} ${line}`;
  }
  const header = `${pri}${bsdTime(seconds)} ${host} ${app.slice(0, 32)}:`;
  if (format === "rfc3164") return `${header} ${line}`;
  if (format === "cef") {
    const ext = [
      `rt=${seconds * 1000}`,
      fields.ip !== undefined ? `src=${cefValue(fields.ip)}` : "",
      fields.domain !== undefined ? `dhost=${cefValue(fields.domain)}` : "",
      fields.method !== undefined ? `requestMethod=${cefValue(fields.method)}` : "",
      fields.uri !== undefined ? `request=${cefValue(fields.uri)}` : "",
      fields.block_status !== undefined ? `act=${cefValue(fields.block_status)}` : "",
      fields.attack_type !== undefined ? `cat=${cefValue(fields.attack_type)}` : "",
      fields.request_id !== undefined
        ? `cs1Label=request_id cs1=${cefValue(fields.request_id)}`
        : "",
      fields.status_code !== undefined
        ? `cn1Label=status_code cn1=${cefValue(fields.status_code)}`
        : "",
      `msg=${cefValue(line)}`,
    ].filter(Boolean).join(" ");
    const signature = fields.attack_type ?? msgId;
    const name = fields.attack_type ? `${fields.attack_type} attack` : msgId;
    return `${header} CEF:0|Wallarm|hitship|${cefHeader(context.version)}|${cefHeader(signature)}|${
      cefHeader(name)
    }|${eventSeverity(fields.block_status)}|${ext}`;
  }
  const d = new Date(seconds * 1000);
  const two = (n: number) => String(n).padStart(2, "0");
  const devTime = `${MONTHS[d.getUTCMonth()]} ${two(d.getUTCDate())} ${d.getUTCFullYear()} ${
    two(d.getUTCHours())
  }:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
  const attrs: Array<[string, unknown]> = [
    ["devTime", devTime],
    ["devTimeFormat", "MMM dd yyyy HH:mm:ss"],
    ["cat", fields.attack_type ?? msgId],
    ["sev", eventSeverity(fields.block_status)],
    ["src", fields.ip],
    ["domain", fields.domain],
    ["method", fields.method],
    ["url", fields.uri],
    ["action", fields.block_status],
    ["request_id", fields.request_id],
    ["status_code", fields.status_code],
    ["hit", line],
  ];
  const body = attrs.filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${leefValue(v)}`).join("\t");
  return `${header} LEEF:1.0|Wallarm|hitship|${leefValue(context.version)}|${
    leefValue(fields.attack_type ?? msgId).replace(/\|/g, "_")
  }|${body}`;
}
