/**
 * `deno task compile` as written in deno.json, run in a scratch copy of the project's config with a
 * tiny program; `DENORT_BIN` pointing nowhere makes the compile fail the way a refused runtime
 * download does, without touching the network.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

async function compileIn(dir: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "compile"],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1", DENORT_BIN: `${dir}/no-such-denort` },
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

async function scratchProject(): Promise<string> {
  const dir = await Deno.makeTempDir();
  for (const file of ["deno.json", "deno.lock"]) {
    await Deno.copyFile(new URL(file, ROOT), `${dir}/${file}`);
  }
  await Deno.mkdir(`${dir}/src`);
  await Deno.writeTextFile(`${dir}/src/hello.ts`, 'export const hello = "hello";\n');
  await Deno.writeTextFile(
    `${dir}/main.ts`,
    'import { hello } from "./src/hello.ts";\nconsole.log(hello);\n',
  );
  return dir;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

Deno.test("a failed deno task compile exits non-zero and leaves no empty dist/", async () => {
  const dir = await scratchProject();
  try {
    const r = await compileIn(dir);
    assert.notEqual(r.code, 0, "the compile cannot succeed without a runtime");
    assert.match(r.stderr, /denort/);
    assert.equal(await exists(`${dir}/dist`), false, "no dist/ left behind");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a failed deno task compile keeps a dist/ that already held files", async () => {
  const dir = await scratchProject();
  try {
    await Deno.mkdir(`${dir}/dist`);
    await Deno.writeTextFile(`${dir}/dist/bitclone.js`, "// an earlier bundle\n");
    const r = await compileIn(dir);
    assert.notEqual(r.code, 0);
    assert.deepEqual([...Deno.readDirSync(`${dir}/dist`)].map((e) => e.name), ["bitclone.js"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
