// live_page.mjs - open ghaminer serve's live page in Debian's chromium (playwright-core),
// wait until its table holds every run with its jobs, then print what the page shows as
// JSON (table rows, the duration chart's points, the failure-rate bars) and save a
// screenshot. The scenario test_serve_page.py compares that with the CSV.
//   node live_page.mjs BASE_URL OWNER/REPO NRUNS SCREENSHOT.png
import { chromium } from "playwright-core";

const [base, repo, nruns, shot] = process.argv.slice(2);
const want = Number(nruns);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(`${base}/?repo=${repo}`);
  await page.waitForFunction((n) => {
    const rows = [...document.querySelectorAll("#runs tr")];
    return rows.length === n && rows.every((tr) => tr.children[7].textContent !== "");
  }, want, { timeout: 60000 });
  // one more frame: the charts are drawn with the table
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
  const shown = await page.evaluate(() => ({
    rows: [...document.querySelectorAll("#runs tr")].map((tr) =>
      [...tr.children].map((td) => td.textContent)),
    points: [...document.querySelectorAll("#durations circle")].map((c) => ({
      id: c.dataset.id, duration: Number(c.dataset.duration),
      conclusion: c.dataset.conclusion, fill: c.getAttribute("fill") })),
    bars: [...document.querySelectorAll("#failures rect")].map((b) => ({
      workflow: b.dataset.workflow, rate: Number(b.dataset.rate), runs: Number(b.dataset.runs) })),
    status: document.getElementById("status").textContent,
  }));
  await page.screenshot({ path: shot, fullPage: false });
  shown.errors = errors;
  console.log(JSON.stringify(shown));
} finally {
  await browser.close();
}
