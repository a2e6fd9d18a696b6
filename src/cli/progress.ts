/**
 * `run`'s progress line for a backfill from a regular file watched from a terminal, like `pv`.
 *
 * @module
 */
import fs from "node:fs";
import type { Config } from "../config/config.ts";

export /**
 * The size of the input when `run` reads one regular file to its end (`--input FILE`, or a file
 * on stdin), or undefined.
 */
function backfillSize(
  inputPath: string | undefined,
  inputs: Config["inputs"],
  stdin: ReadableStream<Uint8Array> | undefined,
): number | undefined {
  try {
    if (inputPath !== undefined && inputPath !== "-") {
      const info = Deno.statSync(inputPath);
      return info.isFile ? info.size : undefined;
    }
    if (inputs.length !== 1 || inputs[0]!.type !== "stdin" || stdin) return undefined;
    const info = fs.fstatSync(0);
    return info.isFile() ? info.size : undefined;
  } catch {
    return undefined;
  }
}

export /** Every second, `read bytes of total (pct), hits/s, ETA`, drawn over itself like `pv`. */
function showProgress(
  total: number,
  read: () => { bytes: number; hits: number },
  write: (text: string) => void,
) {
  const started = performance.now();
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  const line = (end: boolean) => {
    const { bytes, hits } = read();
    const seconds = (performance.now() - started) / 1000;
    const pct = total > 0 ? Math.min(100, (bytes / total) * 100) : 100;
    const rate = Math.round(hits / Math.max(seconds, 0.001));
    const left = bytes > 0 ? ((total - bytes) / bytes) * seconds : Infinity;
    const eta = end
      ? `in ${seconds.toFixed(1)} s`
      : Number.isFinite(left)
      ? `ETA ${Math.ceil(left)} s`
      : "ETA -";
    write(
      `\r\x1b[K${mib(bytes)} of ${mib(total)} (${pct.toFixed(0)}%), ${rate} hits/s, ${eta}${
        end ? "\n" : ""
      }`,
    );
  };
  const timer = setInterval(() => line(false), 1000);
  Deno.unrefTimer(timer);
  let done = false;
  return {
    /** The input is read: the last line, with the total time. */
    finish() {
      if (done) return;
      done = true;
      clearInterval(timer);
      line(true);
    },
    stop() {
      clearInterval(timer);
    },
  };
}
