/**
 * Generated documentation: the JSON Schema of the config (`config.schema.json`, for editors) and
 * the config reference (`docs/config.md`), both made from the zod schemas, which are the single
 * source of truth. `deno task docs` writes them; `deno task check` fails when they are stale.
 *
 * @module
 */
import { z } from "zod";
import { builtinPlugins } from "../../plugins/mod.ts";
import { commonOutputShape, configSchema } from "./config.ts";
import type { Plugin } from "../sdk/plugin.ts";
import { outputPluginsOf } from "./registry.ts";

type JsonSchema = {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  default?: unknown;
  description?: string;
  examples?: unknown[];
  $ref?: string;
  [key: string]: unknown;
};

const SCHEMA_ID = "https://hitship.dev/config.schema.json";

/** The JSON Schema of the config file, input side (what a person writes). */
export function configJsonSchema(plugins: readonly Plugin[]): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema(plugins), {
    io: "input",
    unrepresentable: "any",
  }) as Record<string, unknown>;
  return { ...schema, $id: SCHEMA_ID, title: "hitship configuration" };
}

function typeOf(s: JsonSchema): string {
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.enum) return s.enum.map((v) => `\`${v}\``).join(" \\| ");
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return [...new Set(alts.map(typeOf))].join(" or ");
  if (s.type === "array") return `list of ${s.items ? typeOf(s.items) : "any"}`;
  if (Array.isArray(s.type)) return s.type.join(" or ");
  return s.type ?? "any";
}

/** The bounds of a number, size or duration field, as people write them. */
function rangeOf(field: JsonSchema): string | undefined {
  const text = field["x-range"] as string | undefined;
  if (text) return text;
  const number = [field, ...(field.anyOf ?? [])].find((s) =>
    s.type === "integer" || s.type === "number"
  );
  if (!number) return undefined;
  const integer = number.type === "integer";
  const low = number.minimum !== undefined
    ? String(number.minimum)
    : number.exclusiveMinimum !== undefined
    ? integer ? String((number.exclusiveMinimum as number) + 1) : `above ${number.exclusiveMinimum}`
    : undefined;
  const high = number.maximum as number | undefined;
  if (low === undefined && high === undefined) return undefined;
  if (high === undefined) return `at least ${low}`;
  return `${low ?? "up"} to ${high}`;
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");
const code = (value: unknown) => value === undefined ? "" : `\`${JSON.stringify(value)}\``;

function table(schema: JsonSchema, prefix = "", skip: string[] = []): string[] {
  const rows: string[] = [];
  const required = new Set(schema.required ?? []);
  for (const [name, field] of Object.entries(schema.properties ?? {})) {
    if (skip.includes(name)) continue;
    const key = `${prefix}${name}`;
    const inner = field.properties ? field : (field.anyOf ?? []).find((a) => a.properties);
    const range = rangeOf(field);
    const description = (field.description ?? inner?.description ?? "") +
      (range ? ` (${range})` : "");
    rows.push(
      `| \`${key}\`${required.has(name) ? " (required)" : ""} | ${cell(typeOf(field))} | ${
        code(field.default)
      } | ${cell(description)} | ${field.examples ? code(field.examples[0]) : ""} |`,
    );
    if (inner?.properties && !field.oneOf) rows.push(...table(inner, `${key}.`));
  }
  return rows;
}

const HEADER = [
  "| field | type | default | description | example |",
  "| --- | --- | --- | --- | --- |",
];

/** The config reference in Markdown. */
export function configReference(plugins: readonly Plugin[]): string {
  const schema = configJsonSchema(plugins) as JsonSchema;
  const props = schema.properties!;
  const out: string[] = [
    "# hitship configuration reference",
    "",
    "Generated from the zod schemas by `deno task docs`; do not edit by hand. Keys are",
    "snake_case; unknown keys are errors. Durations are strings (`500ms`, `10s`, `10m`, `12h`);",
    "sizes are bytes or strings (`512KiB`, `64MiB`, `1GB`). Every number, duration and size has",
    "the range given in parentheses, inclusive; durations stop at 24 days, the longest a timer",
    "holds. `${VAR}` and `${VAR:-default}` are read from the environment. Editors validate against",
    "`config.schema.json`.",
    "",
    "## Top level",
    "",
    ...HEADER,
    ...table(schema, "", ["input", "outputs"]),
    "",
    "## `input`",
    "",
  ];
  for (const option of props.input!.oneOf ?? []) {
    out.push(
      `### \`type: ${option.properties!.type!.const}\``,
      "",
      ...HEADER,
      ...table(option, "input."),
      "",
    );
  }
  out.push(
    "## `outputs[]`: fields every output has",
    "",
    ...HEADER,
    ...table(
      z.toJSONSchema(z.strictObject(commonOutputShape), { io: "input" }) as JsonSchema,
    ),
    "",
  );
  const outputs = props.outputs!.items!.oneOf ?? [props.outputs!.items!];
  const common = Object.keys(commonOutputShape);
  for (const option of outputs) {
    const type = option.properties!.type!.const as string;
    const plugin = outputPluginsOf(plugins).find((p) => p.type === type)!;
    out.push(
      `## Output \`type: ${type}\``,
      "",
      plugin.description + ".",
      "",
      ...HEADER,
      ...table(option, "", [...common, "type"]),
      "",
    );
  }
  return out.join("\n");
}

/** The generated files and their content. */
export function generatedFiles(plugins = builtinPlugins): Record<string, string> {
  return {
    "config.schema.json": JSON.stringify(configJsonSchema(plugins), null, 2) + "\n",
    "docs/config.md": configReference(plugins),
  };
}

/** Formats text as `deno fmt` would, so the files on disk are both generated and formatted. */
async function formatted(path: string, text: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", `--ext=${path.split(".").pop()}`, "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  if (!out.success) throw new Error(`deno fmt failed on ${path}`);
  return new TextDecoder().decode(out.stdout);
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--root");
  const root = at >= 0 ? `${Deno.args[at + 1]}/` : new URL("../../", import.meta.url).pathname;
  const check = Deno.args.includes("--check");
  let stale = 0;
  for (const [path, raw] of Object.entries(generatedFiles())) {
    const content = await formatted(path, raw);
    const full = `${root}${path}`;
    if (check) {
      const current = await Deno.readTextFile(full).catch(() => "");
      if (current !== content) {
        console.error(`${path} is stale: run "deno task docs"`);
        stale++;
      }
    } else {
      await Deno.mkdir(full.replace(/\/[^/]*$/, ""), { recursive: true });
      await Deno.writeTextFile(full, content);
      console.log(`wrote ${path}`);
    }
  }
  Deno.exit(stale > 0 ? 1 : 0);
}
