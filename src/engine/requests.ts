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
  readonly #options: RequestsOptions;

  /** Requests of the output that `options` describe. */
  constructor(options: RequestsOptions) {
    this.#options = options;
  }

  /**
   * One request under the supervision; records what it came to (counters, status, log, state),
   * auto-disables a broken output, and waits out the retry interval after a failure.
   *
   * @returns What the request came to when it succeeded; `undefined` when it did not.
   */
  async send(
    send: (signal: AbortSignal) => Promise<SendResult>,
    stop: AbortSignal,
  ): Promise<Extract<SendResult, { ok: true }> | undefined> {
    const interrupt = AbortSignal.any([stop, this.#options.waker.interruption]);
    const outcome = await this.#options.supervisor.attempt(
      (signal) => this.#timed(send, signal),
      interrupt,
    );
    if (outcome.kind === "interrupted") return undefined;
    if (outcome.kind === "delivered") {
      this.#options.ledger.succeeded();
      this.#options.ledger.refresh();
      this.#options.host.status.changed();
      return outcome.result as Extract<SendResult, { ok: true }>;
    }
    const { result } = outcome;
    this.#options.ledger.failed(result, outcome.kind === "failed" ? outcome.delay : undefined);
    this.#options.host.logger.warn(
      `Output "${this.#options.name}" request failed: ${result.error}`,
      {
        output: this.#options.name,
        status: result.status,
        attempt: outcome.kind === "failed" ? this.#options.supervisor.schedule.failures : undefined,
      },
    );
    if (outcome.kind === "broken") {
      await this.#autoDisable(outcome);
      return undefined;
    }
    this.#options.ledger.refresh();
    await this.#options.ledger.save();
    await this.#options.host.status.stateChanged();
    if (this.#options.ledger.state.disabled || interrupt.aborted) return undefined;
    this.#options.waker.forget();
    await this.#options.supervisor.wait(outcome.delay, interrupt);
    return undefined;
  }

  /** Sends, and times a request that was not cut short, for the histogram. */
  async #timed(
    send: (signal: AbortSignal) => Promise<SendResult>,
    signal: AbortSignal,
  ): Promise<SendResult> {
    const started = performance.now();
    const result = await send(signal);
    if (!signal.aborted) {
      this.#options.host.telemetry.requestDuration.observe(
        {
          output: this.#options.name,
          type: this.#options.type,
          result: result.ok ? "ok" : "failed",
        },
        (performance.now() - started) / 1000,
      );
    }
    return result;
  }

  async #autoDisable(outcome: Extract<Outcome, { kind: "broken" }>): Promise<void> {
    const { ratio, requests, failures } = outcome.window;
    this.#options.ledger.turnOff("auto");
    this.#options.waker.interrupt();
    this.#options.ledger.refresh();
    await this.#options.ledger.save();
    await this.#options.host.status.stateChanged();
    this.#options.host.logger.error(`Output "${this.#options.name}" auto-disabled`, {
      output: this.#options.name,
      failure_ratio: ratio,
      requests,
      failures,
    });
    const now = this.#options.host.clock.now();
    const event = integrationBroken(
      this.#options.name,
      this.#options.type,
      outcome.window,
      outcome.result.error,
      now,
    );
    this.#options.host.peers.emit(event, this.#options.name);
  }
}
