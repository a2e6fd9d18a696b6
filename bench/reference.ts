/**
 * The reference loop of the benchmark: read a file line by line and `JSON.parse` each line,
 * nothing else. Prints its own wall time, CPU time and peak memory as JSON.
 */
import process from "node:process";

const started = performance.now();
const file = await Deno.open(Deno.args[0]!, { read: true });
const buffer = new Uint8Array(256 * 1024);
const decoder = new TextDecoder();
let carry = "";
let lines = 0;
let sink = 0;
for (;;) {
  const n = await file.read(buffer);
  if (n === null) break;
  const text = carry + decoder.decode(buffer.subarray(0, n), { stream: true });
  let from = 0;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", from)) {
    const value = JSON.parse(text.slice(from, i));
    sink += value.status_code;
    lines++;
    from = i + 1;
  }
  carry = text.slice(from);
}
file.close();
const u = process.resourceUsage();
console.log(JSON.stringify({
  hits: lines,
  wall_ms: Math.round(performance.now() - started),
  cpu_user_ms: Math.round(u.userCPUTime / 1000),
  cpu_system_ms: Math.round(u.systemCPUTime / 1000),
  // VmHWM, not maxRSS: Linux carries maxRSS across fork and exec from the parent.
  max_rss_bytes: Number(/VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"))![1]) *
    1024,
  sink,
}));
