/**
 * Test helpers for hitship and for plugin authors: an output that captures what it is sent and
 * answers as scripted. Pair it with {@linkcode FakeClock} to test time-based behaviour in
 * virtual time.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { Batch, Output, SendResult, SystemEvent } from "../sdk/output.ts";

/** One request an output received. */
export interface CapturedRequest {
  /** `batch` or `event`. */
  kind: "batch" | "event";
  /** Clock time of the request. */
  at: number;
  /** The batch key, or the event name. */
  key: string;
  /** The batch's raw hit lines. */
  lines: string[];
  /** The event. */
  event?: SystemEvent;
  /** What the output answered. */
  result: SendResult;
}

/** Decides the answer to a request. */
export type Responder = (request: Omit<CapturedRequest, "result">) => SendResult;

const decoder = new TextDecoder();

/**
 * An output that records every request and answers with the responder (2xx by default).
 *
 * @example
 * ```ts
 * import { CaptureOutput } from "./capture_output.ts";
 * const output = new CaptureOutput();
 * output.respond(() => ({ ok: false, status: 500, error: "HTTP 500" }));
 * ```
 */
export class CaptureOutput implements Output {
  /** Every request it got, in order. */
  readonly requests: CapturedRequest[] = [];
  #clock: Clock | undefined;
  #responder: Responder = () => ({ ok: true, status: 200 });

  /**
   * An output that answers every request with a 2xx until told otherwise.
   *
   * @param clock Stamps each request with this clock's time.
   */
  constructor(clock?: Clock) {
    this.#clock = clock;
  }

  /** Sets how the output answers. */
  respond(responder: Responder): this {
    this.#responder = responder;
    return this;
  }

  /** Every successfully delivered hit line, in delivery order. */
  get delivered(): string[] {
    return this.requests.filter((r) => r.kind === "batch" && r.result.ok).flatMap((r) => r.lines);
  }

  /** Delivered system events. */
  get events(): SystemEvent[] {
    return this.requests.filter((r) => r.kind === "event" && r.result.ok).map((r) => r.event!);
  }

  /** Records the batch's lines and answers with the responder. */
  async send(batch: Batch): Promise<SendResult> {
    const lines: string[] = [];
    for await (const chunk of batch.lines()) for (const l of chunk) lines.push(decoder.decode(l));
    const request = {
      kind: "batch" as const,
      at: this.#clock?.now() ?? Date.now(),
      key: batch.key,
      lines,
    };
    const result = this.#responder(request);
    this.requests.push({ ...request, result });
    return result;
  }

  /** Records the event and answers with the responder. */
  sendEvent(event: SystemEvent): Promise<SendResult> {
    const request = {
      kind: "event" as const,
      at: this.#clock?.now() ?? Date.now(),
      key: event.name,
      lines: [],
      event,
    };
    const result = this.#responder(request);
    this.requests.push({ ...request, result });
    return Promise.resolve(result);
  }
}
