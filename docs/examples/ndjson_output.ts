import { definePlugin, z } from "@hitship/hitship/sdk";

const decoder = new TextDecoder();

/** POSTs each batch of hits as NDJSON. The engine batches, retries and keeps the status. */
export default definePlugin({
  type: "ndjson-post",
  description: "POSTs each batch of hits as NDJSON to a URL",
  schema: z.strictObject({
    url: z.url().meta({ description: "Where batches are POSTed", examples: ["http://siem:8080/"] }),
  }),
  create(config) {
    return {
      async send(batch, signal) {
        let body = "";
        for await (const lines of batch.lines()) {
          for (const line of lines) body += decoder.decode(line) + "\n";
        }
        try {
          const answer = await fetch(config.url, {
            method: "POST",
            headers: { "content-type": "application/x-ndjson" },
            body,
            signal,
          });
          await answer.body?.cancel();
          if (answer.ok) return { ok: true, status: answer.status };
          return { ok: false, status: answer.status, error: `HTTP ${answer.status}` };
        } catch (error) {
          return { ok: false, error: (error as Error).message };
        }
      },
    };
  },
});
