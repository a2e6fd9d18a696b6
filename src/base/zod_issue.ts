/**
 * Turns zod issues into the short, human sentences that hitship prints:
 * `status_code: expected an integer, got "abc"`.
 *
 * @module
 */
import type { z } from "zod";

const ARTICLES: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "a boolean",
  array: "an array",
  object: "an object",
  record: "an object",
  map: "an object",
  null: "null",
  bigint: "an integer",
  date: "a date",
};

/** Describes a value for an error message: strings quoted and shortened, containers by kind. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") {
    const shown = value.length > 40 ? `${value.slice(0, 37)}...` : value;
    return JSON.stringify(shown);
  }
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return String(value);
}

/** Joins an issue path as `outputs[0].retry.cycles[1]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** What one issue says, without its path. `hideValue` keeps the received value out of it. */
export function describeIssue(issue: z.core.$ZodIssue, hideValue = false): string {
  const input = (issue as { input?: unknown }).input;
  const got = hideValue ? "" : `, got ${describeValue(input)}`;
  switch (issue.code) {
    case "invalid_type": {
      const custom = issue.message.startsWith("Invalid input") ? undefined : issue.message;
      if (custom !== undefined) {
        return input === undefined ? `is required (${custom})` : `${custom}${got}`;
      }
      const expected = ARTICLES[issue.expected] ?? issue.expected;
      if (input === undefined) return `is required (expected ${expected})`;
      return `expected ${expected}${got}`;
    }
    case "unrecognized_keys":
      return `unknown ${issue.keys.length === 1 ? "key" : "keys"} ${
        issue.keys.map((k) => `"${k}"`).join(", ")
      }`;
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}${got}`;
    case "invalid_union": {
      if (issue.errors.length === 0) {
        return `${issue.message.replace(/^Invalid input: /, "")}${got}`;
      }
      const expected = issue.errors
        .map((branch) => branch[0])
        .filter((first) => first?.code === "invalid_type")
        .map((first) => ARTICLES[(first as { expected: string }).expected] ?? "");
      if (expected.length === issue.errors.length) {
        return `expected ${expected.join(" or ")}${got}`;
      }
      return `${issue.message}${got}`;
    }
    case "too_small":
    case "too_big": {
      const small = issue.code === "too_small";
      const limit = small
        ? (issue as { minimum: number | bigint }).minimum
        : (issue as { maximum: number | bigint }).maximum;
      const inclusive = issue.inclusive ?? true;
      if (issue.origin === "array" || issue.origin === "string" || issue.origin === "set") {
        const unit = issue.origin === "string" ? "characters" : "items";
        const bound = small
          ? (inclusive ? "at least" : "more than")
          : (inclusive ? "at most" : "fewer than");
        return `expected ${bound} ${limit} ${unit}${got}`;
      }
      const op = small ? (inclusive ? ">=" : ">") : (inclusive ? "<=" : "<");
      const kind = issue.origin === "int" ? "an integer" : "a number";
      return `expected ${kind} ${op} ${limit}${got}`;
    }
    default: {
      if (issue.code === "custom" && (issue.params as { plain?: boolean } | undefined)?.plain) {
        return issue.message;
      }
      const message = issue.message.replace(/^Invalid input: /, "");
      return input === undefined && issue.code === "custom"
        ? `is required (${message})`
        : `${message}${got}`;
    }
  }
}
