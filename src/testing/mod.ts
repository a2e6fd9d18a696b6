/**
 * hitship's test kit for plugin authors, `@hitship/hitship/testing`: test an output plugin the
 * way hitship tests its own. On its own: a batch of given lines ({@linkcode batchOf}) and the
 * context it is created with ({@linkcode fakeContext}). Under the real engine and supervisor:
 * {@linkcode OutputHarness}. A capturing output to stand in for a plugin
 * ({@linkcode CaptureOutput}), and a clock that runs in virtual time ({@linkcode FakeClock}).
 *
 * @module
 */
export { FakeClock } from "../base/clock.ts";
export {
  batchOf,
  type BatchOfOptions,
  fakeContext,
  type TestBatch,
  type TestContext,
} from "./batch.ts";
export { type CapturedRequest, CaptureOutput, type Responder } from "./capture_output.ts";
export { type HarnessOptions, OutputHarness } from "./harness.ts";
export type { DeadLetterRecord } from "../ingest/dead_letter.ts";
