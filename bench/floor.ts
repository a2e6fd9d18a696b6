/**
 * The runtime's own floor for `deno task bench`: a Deno process that loads the libraries hitship
 * loads at start-up (zod, yaml, the node modules it uses) and builds a zod schema, prints
 * `ready`, then idles until it is stopped. Its start-up time and idle RSS are what hitship's are
 * measured against.
 */
import { z } from "zod";
import { parse } from "yaml";
import "node:fs";
import "node:zlib";
import "node:crypto";
import "node:net";
import "node:util";

const schema = z.strictObject({ a: z.string(), b: z.array(z.int()).optional() });
schema.parse(parse("a: x\nb: [1, 2]\n"));
console.log("ready");
setInterval(() => {}, 1 << 30);
