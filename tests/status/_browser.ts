/**
 * Drives the status page in Debian's headless chromium with npm `puppeteer-core` for the status
 * tests. Not a test file.
 */
import puppeteer from "puppeteer-core";

/** The little of the page's DOM that the functions run in it use (they run in chromium). */
interface PageElement {
  getAttribute(name: string): string | null;
  readonly textContent: string | null;
}
declare const document: {
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
  querySelector(selector: string): PageElement | null;
  getElementById(id: string): PageElement | null;
};

/** The chromium executable: `$CHROMIUM_PATH`, or Debian's; `undefined` when there is none. */
export async function findChromium(): Promise<string | undefined> {
  const candidates = [
    Deno.env.get("CHROMIUM_PATH"),
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
  ];
  for (const path of candidates) {
    if (!path) continue;
    try {
      if ((await Deno.stat(path)).isFile) return path;
    } catch { /* not there */ }
  }
  return undefined;
}

/** What the test reads off the page. */
export interface PageReport {
  /** Console messages of type error, page errors and failed requests. */
  consoleErrors: string[];
  /** Requests to anything but the page's own origin. */
  foreignRequests: string[];
  /** Forms, buttons, inputs, selects and text areas on the page. */
  controls: number;
  /** The peers drawn in the graph. */
  peers: { direction: string; state: string; address: string }[];
  /** The graph's text labels. */
  peerLabels: string[];
  /** Each job: its id, its text and the nonces searched at two refreshes. */
  jobs: { id: string; text: string; searchedFirst: number; searchedLater: number }[];
  /** The miners' ids in the miners table. */
  miners: string[];
  /** The services table's text. */
  services: string;
}

/**
 * Loads `url` in headless chromium, waits until two established peers and a job are drawn, then
 * until the job's searched count advances on a later refresh, and writes a screenshot.
 */
export async function pageReport(
  executablePath: string,
  url: string,
  options: { screenshot: string; timeoutMs?: number },
): Promise<PageReport> {
  const timeout = options.timeoutMs ?? 45_000;
  const browser = await puppeteer.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1100, height: 900 });
    const consoleErrors: string[] = [];
    const foreignRequests: string[] = [];
    const origin = new URL(url).origin;
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => consoleErrors.push(`page error: ${String(e)}`));
    page.on("requestfailed", (r) => consoleErrors.push(`request failed: ${r.url()}`));
    page.on("request", (r) => {
      if (new URL(r.url()).origin !== origin) foreignRequests.push(r.url());
    });
    await page.goto(`${url}/`, { waitUntil: "load", timeout });
    await page.waitForFunction(
      () =>
        document.querySelectorAll('g.peer[data-state="established"]').length >= 2 &&
        document.querySelector(".job[data-job]") !== null,
      { timeout, polling: 100 },
    );
    const firstSearched = await page.$$eval(
      ".job[data-job]",
      (els) => els.map((e) => Number(e.getAttribute("data-searched"))),
    );
    await page.waitForFunction(
      (first: number[]) =>
        [...document.querySelectorAll(".job[data-job]")].some((e, i) =>
          Number(e.getAttribute("data-searched")) > (first[i] ?? Infinity)
        ),
      { timeout, polling: 100 },
      firstSearched,
    );
    const report = await page.evaluate(() => ({
      controls: document.querySelectorAll("form, button, input, select, textarea").length,
      peers: [...document.querySelectorAll("g.peer")].map((g) => ({
        direction: g.getAttribute("data-direction") ?? "",
        state: g.getAttribute("data-state") ?? "",
        address: g.getAttribute("data-address") ?? "",
      })),
      peerLabels: [...document.querySelectorAll("g.peer text")].map((t) => t.textContent ?? ""),
      jobs: [...document.querySelectorAll(".job[data-job]")].map((e) => ({
        id: e.getAttribute("data-job") ?? "",
        text: e.textContent ?? "",
        searched: Number(e.getAttribute("data-searched")),
      })),
      miners: [...document.querySelectorAll("tr[data-miner]")].map((r) =>
        r.getAttribute("data-miner") ?? ""
      ),
      services: document.getElementById("services")?.textContent ?? "",
    }));
    await page.screenshot({ path: options.screenshot, fullPage: true });
    return {
      consoleErrors,
      foreignRequests,
      controls: report.controls,
      peers: report.peers,
      peerLabels: report.peerLabels,
      jobs: report.jobs.map((j, i) => ({
        id: j.id,
        text: j.text,
        searchedFirst: firstSearched[i],
        searchedLater: j.searched,
      })),
      miners: report.miners,
      services: report.services,
    };
  } finally {
    await browser.close();
  }
}
