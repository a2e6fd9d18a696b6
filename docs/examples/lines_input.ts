import { defineInput, z } from "@hitship/hitship/sdk";

/** Hit lines from a file, read once to its end. */
export default defineInput({
  type: "lines",
  description: "Hit lines from a file, read once",
  schema: z.strictObject({ from: z.string().meta({ description: "The file to read" }) }),
  async *open(config) {
    yield { kind: "data", data: await Deno.readFile(config.from) };
    yield { kind: "end" };
  },
});
