/** A child process whose stdout and stderr are collected as they come (for the ring tests). */

/** A running child process. */
export class RingProc {
  readonly child: Deno.ChildProcess;
  readonly name: string;
  stdout = "";
  stderr = "";
  readonly #pumps: Promise<void>;
  #exited = false;

  constructor(name: string, command: string, args: string[]) {
    this.name = name;
    this.child = new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", PYTHONUNBUFFERED: "1" },
    }).spawn();
    this.child.status.then(() => this.#exited = true);
    const collect = async (stream: ReadableStream<Uint8Array>, into: "stdout" | "stderr") => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) this[into] += chunk;
    };
    this.#pumps = Promise.all([
      collect(this.child.stdout, "stdout"),
      collect(this.child.stderr, "stderr"),
    ])
      .then(() => {});
  }

  /** `bitclone tracker <args>` through the test entry point. */
  static bitclone(name: string, args: string[]): RingProc {
    const entry = new URL("./_ring_cli.ts", import.meta.url).pathname;
    return new RingProc(name, Deno.execPath(), [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-env",
      entry,
      "tracker",
      ...args,
    ]);
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** Resolves with the first match of `pattern` in stdout; fails if the process ends first. */
  async waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const m = this.stdout.match(pattern);
      if (m) return m;
      if (this.#exited) {
        await this.#pumps;
        const late = this.stdout.match(pattern);
        if (late) return late;
        throw new Error(
          `${this.name} ended without printing ${pattern}:\n${this.stdout}\n${this.stderr}`,
        );
      }
      if (performance.now() > deadline) {
        throw new Error(
          `${this.name}: no ${pattern} within ${timeoutMs} ms:\n${this.stdout}\n${this.stderr}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Sends a signal if the process still runs. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    if (this.#exited) return;
    try {
      this.child.kill(signal);
    } catch {
      // already gone
    }
  }

  /** Waits for the exit (SIGKILL after `timeoutMs`) and for all output; returns the exit code. */
  async exit(timeoutMs = 10_000): Promise<number> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killer = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.kill("SIGKILL");
        resolve();
      }, timeoutMs);
    });
    const status = await Promise.race([this.child.status, killer.then(() => this.child.status)]);
    clearTimeout(timer);
    await this.#pumps;
    return status.code;
  }
}
