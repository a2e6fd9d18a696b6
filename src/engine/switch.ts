/**
 * Turning an output on and off: at start (the config's `enabled`, the saved state), by a
 * `hitship enable`/`disable` request, by command; and what a full journal costs an output that
 * is off. A change cuts short what the delivery loop waits on, is saved at once, and is told to
 * the other outputs.
 *
 * @module
 */
import type { Position } from "../journal/journal.ts";
import { disableIntegration } from "./events.ts";
import type { RunnerHost } from "./host.ts";
import type { OutputLedger } from "./ledger.ts";
import { type DisabledBy, takeRequest } from "./output_state.ts";
import type { Waker } from "./waker.ts";

/** What an output's switch works with. */
export interface SwitchOptions {
  name: string;
  type: string;
  /** The output's state file (its requests lie beside it). */
  statePath: string;
  ledger: OutputLedger;
  waker: Waker;
  host: Pick<RunnerHost, "clock" | "logger" | "status" | "peers">;
}

/** Turns one output on and off. */
export class OutputSwitch {
  readonly #options: SwitchOptions;

  /** The switch of the output that `options` describe. */
  constructor(options: SwitchOptions) {
    this.#options = options;
  }

  /**
   * Restores the persisted state and applies the config's `enabled` and a pending request. An
   * output with no state starts at the journal's oldest line at start-up, or at its end when
   * `fresh` (added by a reload).
   */
  async load(fresh: boolean, enabled: boolean): Promise<void> {
    await this.#options.ledger.load(fresh);
    if (!enabled) this.#turnOff("config");
    else if (this.#options.ledger.state.file.disabled === "config") this.#turnOn();
    this.#options.ledger.refresh();
    try {
      await this.#options.ledger.save();
    } catch (error) {
      // A full disk at start: the state is saved again with the first batch; start anyway.
      this.#options.host.logger.warn(
        `Cannot save the state of output "${this.#options.name}" now: ${(error as Error).message}`,
        { output: this.#options.name },
      );
    }
    await this.applyRequest();
  }

  /** Applies a pending `hitship enable`/`disable` request for this output, if any. */
  async applyRequest(): Promise<void> {
    const request = await takeRequest(this.#options.statePath);
    if (!request) return;
    if (request.enabled && this.#options.ledger.state.file.disabled === "config") return;
    if (await this.set(request.enabled)) {
      this.#options.host.logger.info(
        `Output "${this.#options.name}" ${request.enabled ? "enabled" : "disabled"}`,
        {
          output: this.#options.name,
        },
      );
    }
  }

  /**
   * Drops the hits before `position` for this output alone (the journal is full and the output is
   * off): its cursor moves there, a batch cut in that span is given up, and the hits are counted
   * and announced.
   */
  async dropThrough(position: Position): Promise<void> {
    if (position.offset <= this.#options.ledger.state.cursor.offset) return;
    this.#options.ledger.dropThrough(position);
    this.#options.ledger.refresh();
    await this.#options.ledger.save();
  }

  #turnOff(by: DisabledBy): void {
    this.#options.ledger.turnOff(by);
    this.#options.waker.interrupt();
  }

  #turnOn(): void {
    this.#options.ledger.turnOn();
    this.#options.waker.interrupt();
  }

  /** Turns the output on or off by command; returns false when nothing changed. */
  async set(enabled: boolean, by: DisabledBy = "command"): Promise<boolean> {
    if (enabled === !this.#options.ledger.state.disabled) return false;
    if (enabled) this.#turnOn();
    else this.#turnOff(by);
    this.#options.ledger.refresh();
    await this.#options.ledger.save();
    await this.#options.host.status.stateChanged();
    if (!enabled) {
      this.#options.host.peers.emit(
        disableIntegration(
          this.#options.name,
          this.#options.type,
          by,
          this.#options.host.clock.now(),
        ),
        this.#options.name,
      );
    }
    return true;
  }
}
