import assert from "node:assert/strict";
import fs from "node:fs";
import { alignedBuffer, BLOCK, DirectAppender, openDirect } from "./direct_io.ts";

Deno.test("alignedBuffer() gives buffers that direct writes take, again and again, and DirectAppender writes exact bytes with them", async () => {
  const dir = await Deno.makeTempDir({ dir: "/var/tmp" });
  try {
    const fd = openDirect(`${dir}/probe-target`, true);
    if (fd === undefined) {
      // A filesystem without direct I/O: nothing to align, and callers use the page cache.
      assert.equal(alignedBuffer(BLOCK, dir), undefined);
      return;
    }
    try {
      for (let i = 0; i < 5; i++) {
        const buffer = alignedBuffer(16 * BLOCK, dir);
        assert.ok(buffer, `aligned buffer ${i}`);
        assert.equal(buffer.length, 16 * BLOCK);
        buffer.fill(0x61 + i);
        // A direct write of the whole buffer at an aligned position: refused (EINVAL) if the
        // buffer's memory were not aligned.
        assert.equal(fs.writeSync(fd, buffer, 0, buffer.length, i * buffer.length), buffer.length);
      }
    } finally {
      fs.closeSync(fd);
    }
    const written = await Deno.readFile(`${dir}/probe-target`);
    for (let i = 0; i < 5; i++) assert.equal(written[i * 16 * BLOCK], 0x61 + i);

    const lines = Array.from({ length: 3000 }, (_, i) => `{"n":${i}}\n`).join("");
    const appender = DirectAppender.open(`${dir}/segment`, 0, dir);
    assert.ok(appender);
    const bytes = new TextEncoder().encode(lines);
    for (let at = 0; at < bytes.length; at += 777) appender.write(bytes.subarray(at, at + 777));
    assert.equal(appender.direct, true);
    appender.close();
    assert.equal(await Deno.readTextFile(`${dir}/segment`), lines);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
