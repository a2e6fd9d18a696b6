import assert from "node:assert/strict";
import { namePattern, patternsOverlap } from "./key_overlap.ts";

const overlap = (a: string, b: string) => patternsOverlap(namePattern(a), namePattern(b));

Deno.test("patternsOverlap(): the same template in the same place collides", () => {
  assert.equal(overlap("/x/hitlogs-{timestamp}.json", "/x/hitlogs-{timestamp}.json"), true);
  assert.equal(overlap("/x/hitlogs-{timestamp}.json", "/x/hitlogs-{seq}.json"), true);
  assert.equal(overlap("/x/{date}/h.json", "/x/2026/12/01/h.json"), true);
  assert.equal(overlap("/x/{hostname}/h.json", "/x/node-1.eu/h.json"), true);
});

Deno.test("patternsOverlap(): another place, name or extension does not", () => {
  assert.equal(overlap("/x/hitlogs-{timestamp}.json", "/y/hitlogs-{timestamp}.json"), false);
  assert.equal(overlap("/x/a/{timestamp}.json", "/x/b/{timestamp}.json"), false);
  assert.equal(overlap("/x/hitlogs-{timestamp}.json", "/x/hitlogs-{timestamp}.jsonl"), false);
  assert.equal(overlap("/x/{date}/h.json", "/x/archive/h.json"), false, "a date is digits");
  assert.equal(overlap("/x/{hostname}/h.json", "/x/a/b/h.json"), false, "no / in a hostname");
});

Deno.test("patternsOverlap(): nested places and suffixed names are seen", () => {
  assert.equal(overlap("/x/a/{timestamp}.json", "/x/a/{timestamp}.json"), true);
  assert.equal(
    overlap("/x/hitlogs-{timestamp}.json", "/x/hitlogs-{timestamp}-1.json"),
    true,
    "the second name of a second is the first's with a suffix",
  );
  assert.equal(overlap("/x/a-{timestamp}.json", "/x/a-1-{timestamp}.json"), true);
  assert.equal(overlap("/x/a/hitlogs-{timestamp}.json", "/x/b/hitlogs-{timestamp}.json"), false);
});
