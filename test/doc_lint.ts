/**
 * `deno doc --lint` of the public API (`mod.ts` and the SDK) that counts only hitship's own files:
 * zod's declarations, pulled in by the SDK's `z`, are not hitship's to document. Prints every
 * problem in hitship's files and exits 1 when there is one. Part of `deno task check`.
 *
 * @module
 */
const root = new URL("../", import.meta.url).pathname;
const out = await new Deno.Command(Deno.execPath(), {
  args: ["doc", "--lint", "mod.ts", "src/sdk/mod.ts"],
  cwd: root,
  env: { NO_COLOR: "1" },
  stdout: "piped",
  stderr: "piped",
}).output();
const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
// A diagnostic is its "error[...]" line, then "--> FILE:LINE:COL".
const problems: string[] = [];
const lines = text.split("\n");
lines.forEach((line, i) => {
  const at = /-->\s+(\S+)/.exec(line)?.[1];
  if (at?.startsWith(root)) problems.push(`${lines[i - 1]?.trim()} at ${at.slice(root.length)}`);
});
for (const problem of problems) console.error(problem);
if (problems.length > 0) {
  console.error(`deno doc --lint: ${problems.length} problems in hitship's own files`);
  Deno.exit(1);
}
console.log("deno doc --lint: no problem in hitship's own files");
