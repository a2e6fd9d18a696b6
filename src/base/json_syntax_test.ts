import assert from "node:assert/strict";
import { isJsonText } from "./json_syntax.ts";
import { differentialLines } from "../../test/differential.ts";

const enc = new TextEncoder();

/** JSON.parse's verdict on text (strict UTF-8 as the test texts are). */
function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

Deno.test("isJsonText() agrees with JSON.parse on hand-picked texts", () => {
  const texts = [
    "{}",
    "[]",
    " [ ] ",
    "[{}]",
    '{"a":1}',
    '{"a":[1,2,{"b":null}]}',
    "1",
    "-0",
    "1.5e-3",
    '"x"',
    "true",
    "false",
    "null",
    '"\\u00e9\\n"',
    "[1,]",
    "[,1]",
    "{,}",
    '{"a"}',
    '{"a":}',
    '{"a":1,}',
    "{a:1}",
    "[1 2]",
    "01",
    "1.",
    ".5",
    "1e",
    "-",
    "+1",
    "tru",
    "nul",
    '"\\x"',
    '"\\u12"',
    '"a\u0001"',
    "{} {}",
    "{}x",
    "[[[]]]",
    "[[[]]",
    "]",
    "",
    " ",
    '{"a":1}\n{"b":2}',
    "[1e400]",
    '{"a" : 1 , "b" : [ 1 , 2 ] }',
    "\t{\r\n}\n",
    '"unterminated',
    "[1,2",
    '{"a":{"b":{"c":{}}}}',
  ];
  for (const text of texts) {
    assert.equal(isJsonText(enc.encode(text)), parses(text), JSON.stringify(text));
  }
});

Deno.test("isJsonText() agrees with JSON.parse over generated and damaged hits", () => {
  for (const line of differentialLines(20_000, 11)) {
    assert.equal(isJsonText(enc.encode(line)), parses(line), line);
    const array = `[${line},${line}]`;
    assert.equal(isJsonText(enc.encode(array)), parses(array), array);
  }
});

Deno.test("isJsonText() checks five million empty objects and any depth without building them", () => {
  const body = enc.encode("[" + "{},".repeat(5_000_000) + "{}]");
  assert.equal(isJsonText(body), true);
  const deep = enc.encode("[".repeat(1_000_000) + "]".repeat(1_000_000));
  assert.equal(isJsonText(deep), true);
  assert.equal(isJsonText(deep.subarray(1)), false);
});
