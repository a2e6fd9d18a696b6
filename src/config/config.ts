/**
 * The YAML configuration: parsing with positions kept, `${VAR}` interpolation, the zod schemas,
 * and errors that name the file, line and column.
 *
 * @module
 */
import type { Document, Node, Pair } from "yaml";
import { yaml } from "./yaml.ts";
import { z } from "zod";
import { duration } from "../base/duration.ts";
import { byteSize } from "../base/size.ts";
import { listenAddress } from "../base/address.ts";
import { alertSchema } from "../hit/alerts.ts";

export { byteSize, duration };
import { filterSchema } from "../hit/filter.ts";
import { describeIssue, formatPath } from "../base/zod_issue.ts";
import { LOG_LEVELS } from "../base/log.ts";
import { namePattern, patternsOverlap } from "./key_overlap.ts";
import { importPluginModules, resolveModule } from "./plugin_modules.ts";
import { EVENT_KINDS, type EventKind } from "../sdk/output.ts";
import type { FilterConfig } from "../hit/filter.ts";
import type { AlertConfig } from "../hit/alerts.ts";
import type { InputPlugin } from "../sdk/input.ts";
import type { Plugin } from "../sdk/plugin.ts";
import { batchingShape, inputPluginsOf, outputPluginsOf, supportedEventsOf } from "./registry.ts";

const { isMap, isScalar, isSeq, LineCounter, parseDocument, visit } = yaml;

/** The node's retry schedule: three cycles of intervals, then a fixed interval. */
export const DEFAULT_RETRY_CYCLES = [
  ["1s", "3s", "5s", "10s", "10s"],
  ["0s", "1s", "3s", "5s", "30s"],
  ["1m", "1m", "3m", "5m", "10m", "30m"],
];

/** The `retry` block: when a failed request is sent again. */
export const retrySchema = z.strictObject({
  cycles: z.array(z.array(duration()).min(1)).min(1).prefault(DEFAULT_RETRY_CYCLES).meta({
    description: "Intervals between attempts of one batch, cycle after cycle",
    examples: [DEFAULT_RETRY_CYCLES],
  }),
  then_every: duration({ min: 1 }).prefault("30m").meta({
    description: "Interval after the last cycle, until a 2xx or auto-disable",
    examples: ["30m"],
  }),
}).meta({ description: "The retry schedule (the node's own by default)" });

/** The `auto_disable` block: when an output that keeps failing is turned off. */
export const autoDisableSchema = z.strictObject({
  failure_ratio: z.number().gt(0).lte(1).default(0.6).meta({
    description: "Share of failed requests in the window that disables the output",
    examples: [0.6],
  }),
  window: duration({ min: 1000 }).prefault("12h").meta({
    description: "Sliding window over which requests are counted",
    examples: ["12h"],
  }),
  min_requests: z.int().positive().max(1_000_000_000).default(10).meta({
    description: "Requests in the window before the ratio counts",
    examples: [10],
  }),
}).meta({ description: "Auto-disable of an output whose requests keep failing" });

/** Event kinds an output can subscribe to. */
export { EVENT_KINDS };

/** Fields every output has, whatever its type. */
export const commonOutputShape = {
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, {
    error: "expected a name of letters, digits, '_', '-' or '.'",
  }).meta({ description: "Unique name of the output", examples: ["archive"] }),
  enabled: z.boolean().default(true).meta({
    description: "Turned off, the output receives nothing (`disable_integration`)",
  }),
  while_disabled: z.enum(["keep", "skip"]).default("keep").meta({
    description: "What happens to hits that arrive while the output is off: `keep` leaves them " +
      "in the journal and delivers them in order once it is on again (at `max_journal_bytes` " +
      "its oldest are dropped for it alone, counted); `skip` passes over them (counted)",
  }),
  events: z.array(z.enum(EVENT_KINDS)).optional().meta({
    description: "What the output receives: `hits`, `system`, `alerts`, `report`",
    examples: [["hits", "system"]],
  }),
  filter: filterSchema.optional(),
  retry: retrySchema.partial().optional(),
  auto_disable: autoDisableSchema.partial().optional(),
};

/** Fields every input has, whatever its type. */
export const commonInputShape = {
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, {
    error: "expected a name of letters, digits, '_', '-' or '.'",
  }).optional().meta({
    description: "Name of the input, in the status and metrics (default: `input` for `input:`, " +
      "its type in `inputs:`)",
    examples: ["node"],
  }),
  max_line_bytes: byteSize({ min: 1024, max: 64 * 1024 * 1024 }).prefault(1024 * 1024).meta({
    description: "A longer line is rejected",
    examples: ["1MiB"],
  }),
};

/** The `input` block, for the input plugins of a registry. */
export function inputSchema(plugins: readonly InputPlugin[]) {
  const options = plugins.map((plugin) =>
    z.strictObject({
      type: z.literal(plugin.type).meta({ description: plugin.description }),
      ...plugin.schema.shape,
      ...commonInputShape,
    })
  );
  return z.discriminatedUnion("type", options as [typeof options[0], ...typeof options]);
}

function topLevelShape(input: z.ZodType, outputs: z.ZodType) {
  return {
    data_dir: z.string().min(1).default(".hitship").meta({
      description: "Journal, cursors, checkpoints and dead letters",
      examples: ["/var/lib/hitship"],
    }),
    status_file: z.string().min(1).optional().meta({
      description: "Where the status file is written (default: `status.json` in `data_dir`)",
      examples: ["/var/run/hitship/status.json"],
    }),
    log_level: z.enum(LOG_LEVELS).default("info").meta({ description: "Least severe log level" }),
    plugins: z.array(z.string().min(1)).default([]).meta({
      description: "Modules of plugins of your own (inputs or outputs): paths relative to this " +
        "file, or file: or https: URLs; each module's default export is a plugin or an array",
      examples: [["./plugins/my_sink.ts"]],
    }),
    input: input.optional().meta({
      description: "Where hits come from, for one input (default: stdin)",
    }),
    inputs: z.array(input).min(1).optional().meta({
      description: "Where hits come from, for several inputs at once (instead of `input`)",
    }),
    http: z.strictObject({
      listen: listenAddress("127.0.0.1:9464").meta({
        description: "Address of /health, /ready and /metrics",
        examples: ["127.0.0.1:9464"],
      }),
    }).optional().meta({ description: "Optional HTTP endpoint for probes and metrics" }),
    retry: retrySchema.prefault({}),
    auto_disable: autoDisableSchema.prefault({}),
    max_journal_bytes: byteSize({ min: 2048 }).prefault("1GiB").meta({
      description: "Journal size at which the input pauses until outputs catch up",
    }),
    journal_segment_bytes: byteSize({ min: 1024, max: 1024 ** 3 }).prefault("64MiB").meta({
      description: "Size at which a journal segment is closed and a new one begun",
    }),
    journal_direct_io: z.boolean().default(true).meta({
      description:
        "Read and write the journal with direct I/O (O_DIRECT), past the page cache, where the filesystem allows it; false: through the page cache",
    }),
    dead_letter_max_bytes: byteSize({ min: 4096, max: 1024 ** 3 }).prefault("16MiB").meta({
      description: "Size at which the dead-letter file is rotated (one old file is kept)",
    }),
    alerts: z.array(alertSchema).default([]).meta({
      description: "Threshold alerts, sent to outputs whose `events` include `alerts`",
    }),
    shutdown_timeout: duration({ min: 100 }).prefault("25s").meta({
      description: "How long SIGTERM/SIGINT waits for outputs to flush",
    }),
    outputs: outputs,
  };
}

/** Builds the whole config schema for the plugins of a registry. */
export function configSchema(plugins: readonly Plugin[]) {
  const options = outputPluginsOf(plugins).map((plugin) => {
    const output = z.strictObject({
      ...commonOutputShape,
      type: z.literal(plugin.type).meta({ description: plugin.description }),
      ...(plugin.batchOptions ? {} : batchingShape),
      ...plugin.schema.shape,
    });
    // The plugin's own checks across its fields (`tls needs transport: tls`) come along.
    const checks = plugin.schema._zod.def.checks ?? [];
    return checks.length > 0 ? output.check(...(checks as never[])) : output;
  });
  const union = z.discriminatedUnion("type", options as [typeof options[0], ...typeof options]);
  const outputs = z.array(union).min(1, { error: "expected at least one output" })
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((output, index) => {
        const { name, type, events } = output as { name: string; type: string; events?: string[] };
        const plugin = outputPluginsOf(plugins).find((p) => p.type === type);
        events?.forEach((kind, i) => {
          const supported = plugin && supportedEventsOf(plugin);
          if (supported && !supported.includes(kind as never)) {
            ctx.addIssue({
              code: "custom",
              path: [index, "events", i],
              message: `${type} outputs take only ${
                supported.map((e) => `"${e}"`).join(", ")
              }, not "${kind}"`,
              params: { plain: true },
            });
          }
        });
        if (seen.has(name)) {
          ctx.addIssue({
            code: "custom",
            path: [index, "name"],
            message: `duplicate output name "${name}"`,
            params: { plain: true },
          });
        }
        seen.add(name);
      });
      collisions(list as Array<Record<string, unknown>>, plugins, ctx);
    });
  const input = inputSchema(inputPluginsOf(plugins));
  return z.strictObject(topLevelShape(input, outputs)).superRefine((config, ctx) => {
    if (config.input && config.inputs) {
      ctx.addIssue({
        code: "custom",
        path: ["inputs"],
        message: "give either input: (one input) or inputs: (several), not both",
        params: { plain: true },
      });
    }
    const names = new Set<string>();
    (config.inputs as Array<{ name?: string; type: string }> | undefined)?.forEach(
      (input, index) => {
        const name = input.name ?? input.type;
        if (names.has(name)) {
          ctx.addIssue({
            code: "custom",
            path: ["inputs", index, "name"],
            message: `duplicate input name "${name}": give each input a name of its own`,
            params: { plain: true },
          });
        }
        names.add(name);
      },
    );
    const segment = config.journal_segment_bytes;
    if (config.max_journal_bytes < 2 * segment) {
      ctx.addIssue({
        code: "custom",
        path: ["max_journal_bytes"],
        message: `expected at least two journal segments (2 x journal_segment_bytes = ${
          2 * segment
        } bytes), got ${config.max_journal_bytes}: the active segment is only freed once a new one begins`,
        params: { plain: true },
      });
    }
  });
}

/**
 * Two outputs that can write the same name in the same place would overwrite each other's
 * exports: each such pair is an issue on the later output's `key`.
 */
function collisions(
  list: ReadonlyArray<Record<string, unknown>>,
  plugins: readonly Plugin[],
  ctx: z.RefinementCtx,
): void {
  const destinations = list.map((output) => {
    const plugin = outputPluginsOf(plugins).find((p) => p.type === output.type);
    const name = output.name as string;
    const where = plugin?.destination?.(output as never, name);
    return where === undefined ? undefined : { name, where, pattern: namePattern(where) };
  });
  destinations.forEach((b, j) => {
    if (!b) return;
    const a = destinations.slice(0, j).find((a) => a && patternsOverlap(a.pattern, b.pattern));
    if (!a) return;
    ctx.addIssue({
      code: "custom",
      path: [j, "key"],
      message:
        `outputs "${a.name}" and "${b.name}" can write the same name (${
          JSON.stringify(b.where)
        }) and would overwrite each other's exports: give one a distinct key or place, or put ` +
        `{output} in the key (e.g. "{output}/hitlogs-{timestamp}.json")`,
      params: { plain: true },
    });
  });
}

/** The input as resolved from the config: its type, the common fields and its plugin's own. */
export interface InputConfig {
  /** The input's name: its checkpoint, status and metrics go by it. */
  name: string;
  /** The input plugin's `type`. */
  type: string;
  /** A longer line is rejected, bytes. */
  max_line_bytes: number;
  /** The plugin's own fields. */
  [key: string]: unknown;
}

/** The retry schedule, resolved: intervals in ms. */
export interface RetryConfig {
  /** Intervals between attempts of one batch, cycle after cycle. */
  cycles: number[][];
  /** Interval after the last cycle, until a 2xx or auto-disable. */
  then_every: number;
}

/** Auto-disable of an output whose requests keep failing, resolved. */
export interface AutoDisableConfig {
  /** Share of failed requests in the window that disables the output. */
  failure_ratio: number;
  /** Sliding window over which requests are counted, ms. */
  window: number;
  /** Requests in the window before the ratio counts. */
  min_requests: number;
}

/** One output as resolved from the config: the common fields plus its plugin's own. */
export interface OutputConfig {
  /** Unique name of the output. */
  name: string;
  /** The output plugin's `type`. */
  type: string;
  /** Turned off, the output receives nothing. */
  enabled: boolean;
  /** What happens to hits that arrive while the output is off. */
  while_disabled: "keep" | "skip";
  /** What the output receives; the plugin's default when not given. */
  events?: EventKind[];
  /** Which hits pass. */
  filter?: FilterConfig;
  /** The output's own retry schedule, over the top level's. */
  retry?: Partial<RetryConfig>;
  /** The output's own auto-disable, over the top level's. */
  auto_disable?: Partial<AutoDisableConfig>;
  /** The plugin's own fields. */
  [key: string]: unknown;
}

/** The resolved config: every default filled in, durations in ms, sizes in bytes. */
export interface Config {
  /** Journal, cursors, checkpoints and dead letters. */
  data_dir: string;
  /** Where the status file is written. */
  status_file: string;
  /** Least severe log level. */
  log_level: "debug" | "info" | "warn" | "error";
  /** The modules of `plugins:`, as URLs. */
  plugins: string[];
  /** Where hits come from: `inputs:`, or the one input of `input:` (named `input`). */
  inputs: InputConfig[];
  /** The HTTP endpoint for probes and metrics, when there is one. */
  http?: { listen: string };
  /** The retry schedule of every output. */
  retry: RetryConfig;
  /** Auto-disable of every output. */
  auto_disable: AutoDisableConfig;
  /** Journal size at which the input pauses, bytes. */
  max_journal_bytes: number;
  /** Size at which a journal segment is closed, bytes. */
  journal_segment_bytes: number;
  /** Read and write the journal with direct I/O where the filesystem allows it. */
  journal_direct_io: boolean;
  /** Size at which the dead-letter file is rotated, bytes. */
  dead_letter_max_bytes: number;
  /** Threshold alerts. */
  alerts: AlertConfig[];
  /** How long SIGTERM/SIGINT waits for outputs to flush, ms. */
  shutdown_timeout: number;
  /** The outputs, in order. */
  outputs: OutputConfig[];
}

/** One problem in a config, with its place. */
export interface ConfigProblem {
  /** The config file. */
  file: string;
  /** The line, from 1. */
  line: number;
  /** The column, from 1. */
  col: number;
  /** The key's path, as `outputs[0].retry.cycles[1]`. */
  path: string;
  /** What was expected. */
  message: string;
}

/** A config that could not be loaded; `problems` holds every error found. */
export class ConfigError extends Error {
  /** Every problem found, in the order of the file. */
  readonly problems: ConfigProblem[];
  /**
   * A config error of every problem found.
   *
   * @param problems What is wrong, and where.
   */
  constructor(problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** `FILE:LINE:COL: path.to.key: what was expected`. */
export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.path ? `${p.path}: ` : ""}${p.message}`;
}

const SECRET_KEY = /(secret|password|token|api_key|access_key|credential|shared_key)/i;
const VAR = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}/g;

/** Options of {@linkcode parseConfig} and {@linkcode loadConfig}. */
export interface LoadOptions {
  /** The plugins whose `type`s the config may use. */
  plugins: readonly Plugin[];
  /** Environment for `${VAR}`. @default Deno.env */
  env?: (name: string) => string | undefined;
}

/**
 * Parses config text. Throws {@linkcode ConfigError} with every problem found.
 *
 * @param text The YAML.
 * @param file The name used in error messages.
 */
export function parseConfig(text: string, file: string, options: LoadOptions): Config {
  return configOf(readDocument(text, file, options), file, options);
}

/** The config of a read document: its value checked against the schema of `options.plugins`. */
function configOf({ doc, at }: ReadDocument, file: string, options: LoadOptions): Config {
  const problems: ConfigProblem[] = [];

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 }) ?? {};
  } catch (error) {
    // An alias bomb (aliases of aliases, expanding without bound) or a broken alias.
    let place: Node | undefined;
    visit(doc, {
      Alias(_key, node) {
        place = node;
        return visit.BREAK;
      },
    });
    const { line, col } = at(place?.range?.[0] ?? 0);
    throw new ConfigError([{
      file,
      line,
      col,
      path: "",
      message: `cannot expand the YAML aliases: ${(error as Error).message}`,
    }]);
  }
  const schema = configSchema(options.plugins);
  const result = schema.safeParse(value, { reportInput: true });
  if (!result.success) {
    for (const issue of result.error.issues) {
      problems.push(locate(doc, schema, value, issue, file, at));
    }
    problems.sort((a, b) => a.line - b.line || a.col - b.col);
    throw new ConfigError(problems);
  }
  const { input, inputs, ...data } = result.data;
  // Typed, not cast: a schema that lacks or mistypes a field of Config does not compile.
  const config: Config = {
    ...data,
    status_file: data.status_file ?? `${data.data_dir}/status.json`,
    plugins: data.plugins.map((specifier) => resolveModule(specifier, file)),
    inputs: resolveInputs(
      input as Record<string, unknown> | undefined,
      inputs as Array<Record<string, unknown>> | undefined,
    ),
    outputs: data.outputs as OutputConfig[],
  };
  return config;
}

/** The inputs of a config, named: `input:` is one input named `input`; stdin when none. */
function resolveInputs(
  input: Record<string, unknown> | undefined,
  inputs: Array<Record<string, unknown>> | undefined,
): InputConfig[] {
  if (inputs) return inputs.map((i) => ({ ...i, name: i.name ?? i.type }) as InputConfig);
  const one = input ?? { type: "stdin", max_line_bytes: 1024 * 1024 };
  return [{ ...one, name: one.name ?? "input" } as InputConfig];
}

/** An input config given outside a config file (`run --input`), with its defaults filled in. */
export function parseInputConfig(
  input: Record<string, unknown>,
  plugins: readonly Plugin[],
): InputConfig {
  const parsed = inputSchema(inputPluginsOf(plugins)).parse(input) as Record<string, unknown>;
  return { ...parsed, name: (parsed.name as string | undefined) ?? "input" } as InputConfig;
}

/** A config's YAML document, and where an offset in its text is. */
interface ReadDocument {
  doc: Document;
  at: (offset: number) => { line: number; col: number };
}

/** The YAML document of a config, with `${VAR}` read; throws every problem found on the way. */
function readDocument(text: string, file: string, options: LoadOptions): ReadDocument {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => lineCounter.linePos(offset);
  const problems: ConfigProblem[] = [];
  for (const error of doc.errors) {
    const { line, col } = at(error.pos[0]);
    problems.push({ file, line, col, path: "", message: error.message.split("\n")[0]! });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  interpolate(doc, env, (node, message) => {
    const { line, col } = at(node.range?.[0] ?? 0);
    problems.push({ file, line, col, path: pathOf(doc, node), message });
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return { doc, at };
}

/**
 * Imports the modules a config lists under `plugins:` and returns their plugins; a module that
 * cannot be used is a {@linkcode ConfigError} at its place in the list.
 */
async function importConfigPlugins(
  { doc, at }: ReadDocument,
  file: string,
  options: LoadOptions,
): Promise<Plugin[]> {
  const list = doc.get("plugins", true);
  if (!isSeq(list)) return []; // none, or not a list: the schema says so
  const entries = list.items.flatMap((item, index) =>
    isScalar(item) && typeof item.value === "string" && item.value !== ""
      ? [{ index, node: item as Node, specifier: item.value }]
      : []
  );
  const { plugins, problems } = await importPluginModules(
    entries.map((e) => ({ specifier: e.specifier, url: resolveModule(e.specifier, file) })),
    options.plugins,
  );
  if (problems.length > 0) {
    throw new ConfigError(problems.map(({ index, message }) => {
      const entry = entries[index]!;
      const { line, col } = at(entry.node.range?.[0] ?? 0);
      return { file, line, col, path: `plugins[${entry.index}]`, message };
    }));
  }
  return plugins;
}

/**
 * Reads and parses a config file, with the plugins of the modules it lists under `plugins:`.
 * Throws {@linkcode ConfigError}.
 */
export async function loadConfig(path: string, options: LoadOptions): Promise<Config> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file"
      : (error as Error).message;
    throw new ConfigError([{ file: path, line: 1, col: 1, path: "", message: reason }]);
  }
  // Read once: the YAML parser is a good part of start-up (its first run compiles it).
  const read = readDocument(text, path, options);
  const plugins = await importConfigPlugins(read, path, options);
  return configOf(read, path, { ...options, plugins: [...options.plugins, ...plugins] });
}

/** The config `run` uses with no `--config`: stdin to a `file` output writing into `./hitlogs`. */
export const DEFAULT_CONFIG_YAML = `# hitship's built-in default: stdin -> ./hitlogs
data_dir: .hitship
status_file: .hitship/status.json
input: { type: stdin }
outputs:
  - name: local
    type: file
    path: hitlogs
`;

function interpolate(
  doc: Document,
  env: (name: string) => string | undefined,
  report: (node: Node, message: string) => void,
): void {
  visit(doc, {
    Scalar(key, node) {
      if (key === "key" || typeof node.value !== "string" || !node.value.includes("$")) return;
      const original = node.value;
      const replaced = original.replace(VAR, (match, name?: string, fallback?: string) => {
        if (match === "$${") return "${";
        const value = env(name!);
        if (value !== undefined && value !== "") return value;
        if (fallback !== undefined) return fallback;
        report(node, `environment variable "${name}" is not set and has no default`);
        return "";
      });
      if (replaced === original) return;
      node.value = node.type === "PLAIN" ? retype(replaced) : replaced;
    },
  });
}

/** An unquoted `${VAR}` that expands to a number or boolean becomes one, as YAML would read it. */
function retype(text: string): string | number | boolean {
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text === "true" || text === "false") return text === "true";
  return text;
}

function pathOf(doc: Document, target: Node): string {
  let found = "";
  visit(doc, {
    Scalar(_key, node, path) {
      if (node !== target) return;
      const parts: PropertyKey[] = [];
      for (let i = 1; i < path.length; i++) {
        const parent = path[i - 1];
        const item = path[i];
        if (isSeq(parent)) parts.push(parent.items.indexOf(item as Node));
        else if (isMap(parent)) {
          const pair = item as Pair;
          parts.push(isScalar(pair.key) ? String(pair.key.value) : "?");
        }
      }
      found = formatPath(parts);
      return visit.BREAK;
    },
  });
  return found;
}

/** The value at `path` in `root`. */
function valueAt(root: unknown, path: readonly PropertyKey[]): Record<string, unknown> | undefined {
  let at: unknown = root;
  for (const key of path) at = (at as Record<PropertyKey, unknown> | undefined)?.[key];
  return at as Record<string, unknown> | undefined;
}

function locate(
  doc: Document,
  schema: z.ZodType,
  value: unknown,
  issue: z.core.$ZodIssue,
  file: string,
  at: (offset: number) => { line: number; col: number },
): ConfigProblem {
  const path = issue.path as PropertyKey[];
  const last = path.at(-1);
  // An auth header's value and a URL that is itself the credential (Sumo Logic) are secrets too.
  const hide = typeof last === "string" &&
    (SECRET_KEY.test(last) || (last === "value" && path.includes("auth")) ||
      (last === "url" && /sumo/i.test(String(valueAt(value, path.slice(0, -1))?.type ?? ""))));
  let message = describeIssue(issue, hide);
  let place: Node | undefined;
  let shownPath = path;

  if (issue.code === "unrecognized_keys") {
    const map = nodeAt(doc, path);
    const key = issue.keys[0]!;
    if (isMap(map)) {
      const pair = map.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
      place = pair?.key as Node | undefined;
    }
    shownPath = [...path, key];
    message = issue.keys.length === 1
      ? `unknown key${suggestion(key, keysAt(schema, value, path))}`
      : `unknown keys ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
  } else if (issue.code === "invalid_union" && "options" in issue && issue.errors.length === 0) {
    const options = (issue as unknown as { options: unknown[] }).options;
    const value = nodeAt(doc, path);
    const got = isScalar(value) ? `, got ${JSON.stringify(value.value)}` : "";
    message = `expected one of ${options.map((o) => JSON.stringify(o)).join(", ")}${got}`;
  }
  // The deepest node that exists: a missing key points at its parent.
  for (let depth = shownPath.length; place === undefined && depth >= 0; depth--) {
    const node = nodeAt(doc, shownPath.slice(0, depth));
    if (node && depth < shownPath.length && isMap(node)) {
      place = node;
      break;
    }
    place = node;
  }
  const offset = place?.range?.[0] ?? 0;
  const { line, col } = at(offset);
  return { file, line, col, path: formatPath(shownPath), message };
}

function nodeAt(doc: Document, path: readonly PropertyKey[]): Node | undefined {
  if (path.length === 0) return doc.contents ?? undefined;
  return doc.getIn(path as unknown[], true) as Node | undefined;
}

/** The keys a schema allows at a path of a value, for "did you mean" hints. */
function keysAt(schema: z.ZodType, value: unknown, path: readonly PropertyKey[]): string[] {
  // deno-lint-ignore no-explicit-any
  let def = (schema as any)._zod.def;
  let current = value;
  let i = 0;
  for (let guard = 0; guard < 100; guard++) {
    switch (def.type) {
      case "optional":
      case "default":
      case "prefault":
      case "nullable":
      case "readonly":
        def = def.innerType._zod.def;
        continue;
      case "pipe":
        def = def.in._zod.def;
        continue;
      case "union": {
        const type = (current as { type?: unknown } | undefined)?.type;
        // deno-lint-ignore no-explicit-any
        const option = def.options.find((o: any) => {
          const literal = o._zod.def.shape?.type?._zod.def;
          return literal?.values?.includes(type);
        }) ?? def.options[0];
        def = option._zod.def;
        continue;
      }
      case "array":
        if (i >= path.length) return [];
        current = (current as unknown[])?.[path[i++] as number];
        def = def.element._zod.def;
        continue;
      case "object":
        if (i >= path.length) return Object.keys(def.shape);
        current = (current as Record<PropertyKey, unknown>)?.[path[i]!];
        def = def.shape[path[i++] as string]?._zod.def;
        if (!def) return [];
        continue;
      default:
        return [];
    }
  }
  return [];
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row[j]!;
      row[j] = next;
    }
  }
  return row[b.length]!;
}

function suggestion(key: string, known: string[]): string {
  const best = known
    .map((k) => ({ k, d: editDistance(key.toLowerCase(), k) }))
    .sort((a, b) => a.d - b.d)[0];
  const prefix = known.find((k) => k.startsWith(key.toLowerCase()) && key.length >= 3);
  if (prefix) return ` "${key}", did you mean "${prefix}"?`;
  const hint = best && best.d <= Math.max(2, Math.floor(key.length / 3))
    ? `, did you mean "${best.k}"?`
    : known.length > 0
    ? ` (expected one of ${known.map((k) => `"${k}"`).join(", ")})`
    : "";
  return ` "${key}"${hint}`;
}
