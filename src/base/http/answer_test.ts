import assert from "node:assert/strict";
import { answerBytes, plainAnswer } from "./answer.ts";

const dec = new TextDecoder();

Deno.test("answerBytes() writes the status line, length, connection, headers and body", () => {
  const answer = plainAnswer(503, "Busy", { "retry-after": "1" });
  assert.equal(
    dec.decode(answerBytes(answer, { head: false, keepAlive: false })),
    "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 5\r\nconnection: close\r\n" +
      "content-type: text/plain; charset=utf-8\r\nretry-after: 1\r\n\r\nBusy\n",
  );
  assert.equal(
    dec.decode(answerBytes({ status: 200, body: "é" }, { head: true, keepAlive: true })),
    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\n",
    "a HEAD answer has the body's length and no body",
  );
});
