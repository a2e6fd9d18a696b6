import assert from "node:assert/strict";
import { DataDirInUseError, DataDirLock, isLocked, readLockInfo } from "./data_dir_lock.ts";

Deno.test("DataDirLock: a second acquire fails at once naming the holder; release frees it", async () => {
  const dir = await Deno.makeTempDir();
  const first = await DataDirLock.acquire(dir);
  assert.equal((await readLockInfo(dir))?.pid, Deno.pid);
  assert.equal(await isLocked(dir), true);
  await assert.rejects(
    () => DataDirLock.acquire(dir),
    (error: Error) =>
      error instanceof DataDirInUseError &&
      error.message === `data_dir ${dir} is in use by hitship (pid ${Deno.pid})`,
  );
  first.release();
  assert.equal(await isLocked(dir), false);
  const second = await DataDirLock.acquire(dir);
  second.release();
});
