import assert from "node:assert/strict";
import { OutputState, type StateRules } from "./output_state.ts";
import type { Position } from "../journal/position.ts";

/** A position `n` lines into a journal of 100-byte lines. */
const at = (n: number): Position => ({ offset: n * 100, seq: n });

const KEEP: StateRules = { takesHits: true, skipsWhileOff: false };
const SKIP: StateRules = { takesHits: true, skipsWhileOff: true };
const EVENTS_ONLY: StateRules = { takesHits: false, skipsWhileOff: true };

/** Runs `steps` on a fresh state at line `from`; the state after them. */
function after(rules: StateRules, from: number, steps: (s: OutputState) => void): OutputState {
  const state = new OutputState("file", at(from), rules);
  steps(state);
  return state;
}

Deno.test("OutputState: on, off and back on, what is pending and what is needed (table)", () => {
  const cases: Array<{
    name: string;
    rules: StateRules;
    steps: (s: OutputState) => void;
    end: number;
    pending: number;
    needed: Array<{ from: number; to: number }>;
    disabled: boolean;
  }> = [
    {
      name: "on: everything after the cursor",
      rules: KEEP,
      steps: () => {},
      end: 50,
      pending: 40,
      needed: [{ from: 1000, to: Infinity }],
      disabled: false,
    },
    {
      name: "off, keep: it still owes what came while off",
      rules: KEEP,
      steps: (s) => s.turnOff("command", at(20)),
      end: 50,
      pending: 40,
      needed: [{ from: 1000, to: Infinity }],
      disabled: true,
    },
    {
      name: "off, skip: it owes only what it had accepted",
      rules: SKIP,
      steps: (s) => s.turnOff("command", at(20)),
      end: 50,
      pending: 10,
      needed: [{ from: 1000, to: 2000 }],
      disabled: true,
    },
    {
      name: "off then on, skip: the span while off is passed over",
      rules: SKIP,
      steps: (s) => {
        s.turnOff("command", at(20));
        assert.equal(s.turnOn(at(30)), 10, "10 hits skipped");
      },
      end: 50,
      pending: 30,
      needed: [{ from: 1000, to: 2000 }, { from: 3000, to: Infinity }],
      disabled: false,
    },
    {
      name: "off then on, skip, the cursor already past where it went off",
      rules: SKIP,
      steps: (s) => {
        s.turnOff("auto", at(5));
        assert.equal(s.turnOn(at(30)), 20, "from the cursor on");
      },
      end: 40,
      pending: 10,
      needed: [{ from: 1000, to: 1000 }, { from: 3000, to: Infinity }],
      disabled: false,
    },
    {
      name: "off then on, keep: nothing skipped",
      rules: KEEP,
      steps: (s) => {
        s.turnOff("config", at(20));
        assert.equal(s.turnOn(at(30)), 0);
      },
      end: 50,
      pending: 40,
      needed: [{ from: 1000, to: Infinity }],
      disabled: false,
    },
    {
      name: "an output of events alone owes no hits and needs no journal",
      rules: EVENTS_ONLY,
      steps: (s) => {
        s.turnOff("command", at(20));
        assert.equal(s.turnOn(at(30)), 0, "skips nothing it would have taken");
      },
      end: 50,
      pending: 0,
      needed: [],
      disabled: false,
    },
    {
      name: "skipping past the skipped span ends it",
      rules: SKIP,
      steps: (s) => {
        s.turnOff("command", at(20));
        s.turnOn(at(30));
        s.skipTo(at(35));
      },
      end: 50,
      pending: 15,
      needed: [{ from: 3500, to: Infinity }],
      disabled: false,
    },
  ];
  for (const c of cases) {
    const state = after(c.rules, 10, c.steps);
    assert.equal(state.pending(at(c.end)), c.pending, `${c.name}: pending`);
    assert.deepEqual(state.neededRanges(at(c.end)), c.needed, `${c.name}: needed`);
    assert.equal(state.disabled, c.disabled, `${c.name}: disabled`);
  }
});

Deno.test("OutputState.dropThrough() counts what an output that is off loses, and gives up a batch cut there", () => {
  const cases: Array<[string, StateRules, number, number, number]> = [
    // name, rules, turned off at, dropped through, hits lost
    ["keep: everything before the point", KEEP, 30, 25, 15],
    ["keep: past what came", KEEP, 30, 45, 35],
    ["skip: only what it had accepted", SKIP, 30, 45, 20],
    ["before the cursor: nothing", KEEP, 30, 5, 0],
  ];
  for (const [name, rules, off, through, lost] of cases) {
    const state = after(rules, 10, (s) => {
      s.file.intent = {
        seq: 1,
        key: "k",
        from: at(10),
        to: at(12),
        count: 2,
        raw_bytes: 198,
        created_at: 0,
      };
      s.turnOff("command", at(off));
    });
    assert.equal(state.dropThrough(at(through), at(50)), lost, name);
    if (lost > 0) {
      assert.deepEqual(state.cursor, at(through), `${name}: the cursor moved`);
      assert.equal(state.file.intent, null, `${name}: the batch there is given up`);
    } else {
      assert.ok(state.file.intent, `${name}: the batch stays`);
    }
  }
});

Deno.test("OutputState.restore() takes a saved state, and resumes at the journal's start when its cursor is gone", () => {
  const saved = after(KEEP, 10, (s) => s.turnOff("command", at(20))).file;
  const state = new OutputState("file", at(0), KEEP);
  assert.equal(state.restore(structuredClone(saved), at(0)), 0);
  assert.deepEqual(state.cursor, at(10));
  assert.equal(state.disabled, true);

  const gone = new OutputState("file", at(0), KEEP);
  assert.equal(gone.restore(structuredClone(saved), at(40)), 30, "30 hits were deleted under it");
  assert.deepEqual(gone.cursor, at(40));
  assert.equal(gone.file.intent, null);
  assert.equal(gone.file.disabled_at, null);
});

Deno.test("OutputState.delivered() moves the cursor past the batch in flight", () => {
  const state = after(KEEP, 10, () => {});
  const intent = {
    seq: 1,
    key: "k",
    from: at(10),
    to: at(20),
    count: 10,
    raw_bytes: 990,
    created_at: 0,
  };
  state.file.intent = intent;
  state.delivered(intent);
  assert.deepEqual(state.cursor, at(20));
  assert.equal(state.file.intent, null);
  assert.equal(state.pending(at(25)), 5);
});
