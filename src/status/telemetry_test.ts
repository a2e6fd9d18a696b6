import assert from "node:assert/strict";
import { Histogram, Telemetry } from "./telemetry.ts";

Deno.test("Histogram renders cumulative buckets, +Inf, sum and count per label set", () => {
  const h = new Histogram([0.1, 1]);
  h.observe({ output: "a" }, 0.05);
  h.observe({ output: "a" }, 0.5);
  h.observe({ output: "a" }, 7);
  h.observe({ output: "b" }, 1);
  assert.equal(
    h.render("x_seconds", "Time"),
    [
      "# HELP x_seconds Time",
      "# TYPE x_seconds histogram",
      'x_seconds_bucket{output="a",le="0.1"} 1',
      'x_seconds_bucket{output="a",le="1"} 2',
      'x_seconds_bucket{output="a",le="+Inf"} 3',
      'x_seconds_sum{output="a"} 7.55',
      'x_seconds_count{output="a"} 3',
      'x_seconds_bucket{output="b",le="0.1"} 0',
      'x_seconds_bucket{output="b",le="1"} 1',
      'x_seconds_bucket{output="b",le="+Inf"} 1',
      'x_seconds_sum{output="b"} 1',
      'x_seconds_count{output="b"} 1',
    ].join("\n"),
  );
});

Deno.test("Telemetry renders the reload counter by result even before any reload", () => {
  const text = new Telemetry().render();
  assert.match(text, /^hitship_config_reloads_total\{result="success"\} 0$/m);
  assert.match(text, /^hitship_config_reloads_total\{result="failure"\} 0$/m);
  assert.match(text, /^# TYPE hitship_output_request_duration_seconds histogram$/m);
});
