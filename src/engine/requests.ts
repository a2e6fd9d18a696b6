/**
 * An output's requests under its supervision: each attempt timed, what it came to recorded in the
 * output's books and the log, a broken output auto-disabled (and the others told), and the wait
 * of the retry schedule after a failure, cut short by a change of the output's state.
 *
 * @module
 */
import type { SendResult } from "../sdk/output.ts";
import { integrationBroken } from "./events.ts";
import type { OutputLedger } from "./ledger.ts";
import type { RunnerHost } from "./host.ts";
import type { Outcome, Supervisor } from "./supervision.ts";
import type { Waker } from "./waker.ts";

/** What the requests of one output are made with. */
export interface RequestsOptions {
  name: string;
  type: string;
  supervisor: Supervisor;
  ledger: OutputLedger;
  waker: Waker;
  host: Pick<RunnerHost, "clock" | "logger" | "telemetry" | "status" | "peers">;
}

/** The requests of one output. */
export class SupervisedRequests {
  readonly #o: RequestsOptions;

  /** Requests of the output that `options` describe. */
  constructor(options: RequestsOptions) {
    this.#o = options;
  }

  /**
   * One request under the supervision; records what it came to (counters, status, log, state),
   * auto-disables a broken output, and waits out the retry interval after a failure.
   *
   * @returns True when the request succeeded.
   */
  async send(
    send: (signal: AbortSignal) => Promise<SendResult>,
    stop: AbortSignal,
  ): Promise<boolean> {
    const interrupt = AbortSignal.any([stop, this.#o.waker.interruption]);
    const outcome = await this.#o.supervisor.attempt(
      (signal) => this.#timed(send, signal),
      interrupt,
    );
    if (outcome.kind === "interrupted") return false;
    if (outcome.kind === "delivered") {
      this.#o.ledger.succeeded();
      this.#o.ledger.refresh();
      this.#o.host.status.changed();
      return true;
    }
    const { result } = outcome;
    this.#o.ledger.failed(result, outcome.kind === "failed" ? outcome.delay : undefined);
    this.#o.host.logger.warn(`Output "${this.#o.name}" request failed: ${result.error}`, {
      output: this.#o.name,
      status: result.status,
      attempt: outcome.kind === "failed" ? this.#o.supervisor.schedule.failures : undefined,
    });
    if (outcome.kind === "broken") {
      await this.#autoDisable(outcome);
      return false;
    }
    this.#o.ledger.refresh();
    await this.#o.ledger.save();
    await this.#o.host.status.stateChanged();
    if (this.#o.ledger.state.disabled || interrupt.aborted) return false;
    this.#o.waker.forget();
    await this.#o.supervisor.wait(outcome.delay, interrupt);
    return false;
  }

  /** Sends, and times a request that was not cut short, for the histogram. */
  async #timed(
    send: (signal: AbortSignal) => Promise<SendResult>,
    signal: AbortSignal,
  ): Promise<SendResult> {
    const started = performance.now();
    const result = await send(signal);
    if (!signal.aborted) {
      this.#o.host.telemetry.requestDuration.observe(
        { output: this.#o.name, type: this.#o.type, result: result.ok ? "ok" : "failed" },
        (performance.now() - started) / 1000,
      );
    }
    return result;
  }

  async #autoDisable(outcome: Extract<Outcome, { kind: "broken" }>): Promise<void> {
    const { ratio, requests, failures } = outcome.window;
    this.#o.ledger.turnOff("auto");
    this.#o.waker.interrupt();
    this.#o.ledger.refresh();
    await this.#o.ledger.save();
    await this.#o.host.status.stateChanged();
    this.#o.host.logger.error(`Output "${this.#o.name}" auto-disabled`, {
      output: this.#o.name,
      failure_ratio: ratio,
      requests,
      failures,
    });
    const now = this.#o.host.clock.now();
    const event = integrationBroken(
      this.#o.name,
      this.#o.type,
      outcome.window,
      outcome.result.error,
      now,
    );
    this.#o.host.peers.emit(event, this.#o.name);
  }
}
