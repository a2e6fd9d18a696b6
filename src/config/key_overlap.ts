/**
 * Whether two outputs can write the same name: each output's destination is a pattern (its place
 * and key template, placeholders standing for what they can render, plus the `-1`, `-2` suffix a
 * name gets when it is taken), and two patterns collide when some name matches both. Used by
 * config validation, so that two outputs never overwrite each other's exports.
 *
 * @module
 */

/** What a placeholder can render: digits, a date (digits and `/`), or a hostname's characters. */
type CharClass = "digit" | "date" | "host";

type Label = { char: string } | { class: CharClass };

interface State {
  next: Array<{ label: Label; to: number }>;
  /** Moves without reading a character. */
  skip: number[];
}

const CLASSES: Record<string, CharClass> = {
  timestamp: "digit",
  seq: "digit",
  date: "date",
  hostname: "host",
};

function inClass(char: string, cls: CharClass): boolean {
  if (char >= "0" && char <= "9") return true;
  if (cls === "date") return char === "/";
  if (cls === "host") return /^[A-Za-z._-]$/.test(char);
  return false;
}

function meet(a: Label, b: Label): boolean {
  if ("char" in a && "char" in b) return a.char === b.char;
  if ("char" in a) return inClass(a.char, (b as { class: CharClass }).class);
  if ("char" in b) return inClass(b.char, a.class);
  return true; // every class holds the digits
}

/** A name pattern: an automaton over the names a destination can render. */
export interface NamePattern {
  readonly states: readonly State[];
  /** The state that ends a name. */
  readonly end: number;
}

/**
 * The pattern of a destination: `template` with `{output}` already filled in; the other
 * placeholders are classes of characters. The suffix a taken name gets (`-N` before the first `.`
 * of its last segment) is part of the pattern.
 */
export function namePattern(template: string): NamePattern {
  const states: State[] = [{ next: [], skip: [] }];
  let at = 0;
  const add = (): number => states.push({ next: [], skip: [] }) - 1;
  const step = (label: Label): void => {
    const to = add();
    states[at]!.next.push({ label, to });
    at = to;
  };
  const lastSlash = template.lastIndexOf("/");
  const firstDot = template.indexOf(".", lastSlash + 1);
  const suffixAt = firstDot < 0 ? template.length : firstDot;
  const suffix = () => {
    // Optionally "-" and one or more digits.
    const from = at;
    const dash = add();
    states[from]!.next.push({ label: { char: "-" }, to: dash });
    const digits = add();
    states[dash]!.next.push({ label: { class: "digit" }, to: digits });
    states[digits]!.next.push({ label: { class: "digit" }, to: digits });
    const after = add();
    states[from]!.skip.push(after);
    states[digits]!.skip.push(after);
    at = after;
  };
  for (let i = 0; i < template.length;) {
    if (i === suffixAt) suffix();
    const placeholder = /^\{([a-z_]+)\}/.exec(template.slice(i));
    const cls = placeholder ? CLASSES[placeholder[1]!] : undefined;
    if (placeholder && cls) {
      // One or more characters of the class.
      step({ class: cls });
      states[at]!.next.push({ label: { class: cls }, to: at });
      i += placeholder[0].length;
    } else {
      step({ char: template[i]! });
      i++;
    }
  }
  if (suffixAt === template.length) suffix();
  return { states, end: at };
}

function closure(pattern: NamePattern, from: number): number[] {
  const seen = new Set([from]);
  const stack = [from];
  while (stack.length > 0) {
    for (const to of pattern.states[stack.pop()!]!.skip) {
      if (!seen.has(to)) {
        seen.add(to);
        stack.push(to);
      }
    }
  }
  return [...seen];
}

/**
 * Whether some name matches both patterns.
 *
 * @example
 * ```ts
 * import { namePattern, patternsOverlap } from "./key_overlap.ts";
 * patternsOverlap(namePattern("a/hitlogs-{timestamp}.json"), namePattern("a/hitlogs-{seq}.json")); // true
 * patternsOverlap(namePattern("a/{timestamp}.json"), namePattern("b/{timestamp}.json")); // false
 * ```
 */
export function patternsOverlap(a: NamePattern, b: NamePattern): boolean {
  const seen = new Set<string>();
  const queue: Array<[number, number]> = [];
  const visit = (x: number, y: number) => {
    for (const i of closure(a, x)) {
      for (const j of closure(b, y)) {
        const id = `${i},${j}`;
        if (!seen.has(id)) {
          seen.add(id);
          queue.push([i, j]);
        }
      }
    }
  };
  visit(0, 0);
  while (queue.length > 0) {
    const [i, j] = queue.shift()!;
    if (i === a.end && j === b.end) return true;
    for (const ta of a.states[i]!.next) {
      for (const tb of b.states[j]!.next) {
        if (meet(ta.label, tb.label)) visit(ta.to, tb.to);
      }
    }
  }
  return false;
}
