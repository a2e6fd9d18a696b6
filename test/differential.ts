/**
 * Lines for the differential test of the quick hit check against the full one: hits in the
 * node's shape, and every kind of damage to them. Used by `src/hit/scan_test.ts` and the bench.
 *
 * @module
 */
import { checkLine } from "../src/hit/hit.ts";
import { quickHit } from "../src/hit/scan.ts";
import { makeHit, random } from "./hits.ts";

/** Lines in the node's shape, and every kind of damage to them. */
export function differentialLines(n: number, seed = 7): string[] {
  const rand = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const chars = [
    '"',
    "\\",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    " ",
    "\t",
    "\u0001",
    "0",
    "9",
    "-",
    ".",
    "e",
    "a",
    "\u00e9",
    "\u2028",
    "n",
    "u",
  ];
  const numbers = [
    "0",
    "-0",
    "1e400",
    "-1e400",
    "4.99e2",
    "499.0",
    "9007199254740991",
    "9007199254740993",
    "1.5",
    "1E2",
    "01",
    "-",
    "1.",
    ".5",
    "1e",
    "0x10",
    "NaN",
    "true",
    "null",
    '"499"',
  ];
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const hit = makeHit(i, random(seed * 1000 + i));
    let line = JSON.stringify(hit);
    switch (Math.floor(rand() * 15)) {
      case 0: // valid as it is
        break;
      case 1: // whitespace anywhere JSON allows it
        line = JSON.stringify(hit, null, pick([" ", "\t", "  "])).replace(
          /\n/g,
          pick([" ", "\t", ""]),
        );
        break;
      case 2: { // a character changed
        const at = Math.floor(rand() * line.length);
        line = line.slice(0, at) + pick(chars) + line.slice(at + 1);
        break;
      }
      case 3: { // a character inserted
        const at = Math.floor(rand() * line.length);
        line = line.slice(0, at) + pick(chars) + line.slice(at);
        break;
      }
      case 4: // truncated
        line = line.slice(0, Math.floor(rand() * line.length));
        break;
      case 5: { // a number field at the edges
        const field = pick(["status_code", "time", "application_id", "point", "tags", "extra"]);
        const value = field === "application_id" || field === "point"
          ? `[${pick(numbers)}]`
          : pick(numbers);
        line = `{"${field}":${value},` + JSON.stringify({ ...hit, [field]: undefined }).slice(1);
        if (field === "extra") line = line.replace(/,"extra":[^,}]*/, "") + "";
        break;
      }
      case 6: // a key twice, at the top or in tags
        line = rand() < 0.5
          ? `{"${pick(Object.keys(hit))}":${pick(numbers)},${line.slice(1)}`
          : line.replace('"tags":{', '"tags":{"lom_id":1,');
        break;
      case 7: // keys and values written with escapes
        line = line.replace(
          pick(['"ip":"', '"time":"', '"uri":"', '"tags":{"', '"method":"']),
          (m) => m.replace(/[a-z]/, (c) => `\\u00${c.charCodeAt(0).toString(16)}`),
        );
        break;
      case 8: // an ip that is not one, or another form of one
        line = line.replace(
          /"ip":"[^"]*"/,
          `"ip":"${
            pick([
              "::1",
              "2001:db8::1",
              "256.1.1.1",
              "1.2.3",
              "01.2.3.4",
              "1.2.3.4 ",
              "",
              "::ffff:1.2.3.4",
              "fe80::1%eth0",
            ])
          }"`,
        );
        break;
      case 9: { // deep nesting somewhere
        const depth = 55 + Math.floor(rand() * 20);
        const nest = pick(["[", '{"k":']);
        const close = nest === "[" ? "]" : "}";
        const field = pick(["point", "tags", "extra", "payload"]);
        line = line.slice(0, -1) + `,"${field}2":${nest.repeat(depth)}1${close.repeat(depth)}}`;
        if (rand() < 0.5) {
          line = line.replace(`"${field}":`, `"${field}_":`).replace(`"${field}2":`, `"${field}":`);
        }
        break;
      }
      case 10: // a field missing, or of another type
        line = JSON.stringify({
          ...hit,
          [pick(Object.keys(hit))]: pick([undefined, null, 7, "x", [], {}]),
        });
        break;
      case 11: // strings with every escape and control characters
        line = line.replace(
          '"uri":"',
          `"uri":"${
            pick([
              "\\n",
              '\\"',
              "\\\\",
              "\\/",
              "\\b",
              "\\ud800",
              "\\uDFFF",
              "\\ud83d\\ude00",
              "\\uD83D\\u0041",
              "\\udc00\\ud800",
              "\\x41",
              "\\u12",
              "\u0007",
              "\u007f",
            ])
          }`,
        );
        break;
      case 12: // not an object, or garbage after it
        line = pick([
          "[]",
          "null",
          "1",
          '"x"',
          line + " x",
          line + "}",
          "{" + line,
          line + ",",
          "",
        ]);
        break;
      case 13: // tags whose string values hold escaped quotes and backslashes, a key twice or not
        line = line.replace(
          /"tags":\{.*\}\}$/,
          `"tags":${
            pick([
              String.raw`{"a":"\"","a":1}`,
              String.raw`{"a":"\\","b":1,"a":2}`,
              String.raw`{"a":"x\",\"a\":1","b":2}`,
              String.raw`{"a":"x\",\"a\":1","a":2}`,
              String.raw`{"a":1.5e3,"b":true,"a":null}`,
              String.raw`{"a":-0,"b":"s","c":false}`,
              String.raw`{"a":"\\\"","a":0}`,
              String.raw`{"a":"\\\"","b":0}`,
              String.raw`{"a,b":1,"a":2,"b":3}`,
              String.raw`{"":1,"":2}`,
            ])
          }}`,
        );
        break;
      default: // an unknown field of any kind
        line = line.slice(0, -1) +
          `,"extra":${
            pick([
              '{"a":[1,{"b":null}]}',
              "[]",
              "{}",
              '"s"',
              "1e5",
              "true",
              '{"a":1,"a":2}',
              '{"\\u0061":1}',
              '{"\\ud800":1}',
              "1e400",
              "-1E+0309",
              "[1e-400]",
              '"\\uDBFF\\uDFFF"',
            ])
          }}`;
    }
    lines.push(line);
  }
  return lines;
}

/** The lines quickHit accepts that checkLine does not, and how many each accepts. */
export function compare(lines: string[]): { wrong: string[]; fast: number; valid: number } {
  const wrong: string[] = [];
  let fast = 0;
  let valid = 0;
  for (const line of lines) {
    const quick = quickHit(line);
    const ok = checkLine(line).ok;
    if (quick && !ok) wrong.push(line);
    if (ok) valid++;
    if (quick) fast++;
  }
  return { wrong, fast, valid };
}
