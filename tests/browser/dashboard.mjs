// Opens the live dashboard and the HTML report in headless Chromium and checks what a user sees:
// live numbers, the request and class tables, charts drawn from real points, a control that
// works. Run by tests/it/browser.rs:
//   node dashboard.mjs DASHBOARD_URL REPORT_FILE SCREENSHOT_DIR
// Exits non-zero with a message on the first thing that is wrong.
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";

const [dashboardUrl, reportFile, shots] = process.argv.slice(2);
const fail = (message) => {
  console.error(`browser test: ${message}`);
  process.exit(1);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));

  // The live dashboard: wait for real numbers.
  await page.goto(dashboardUrl);
  if (!(await page.isVisible("#controls"))) fail("the dashboard shows no controls");
  await page.waitForFunction(
    () => {
      const rows = document.querySelectorAll("#requests tbody tr");
      const points = Number(document.getElementById("chart-rps").dataset.points || 0);
      return rows.length >= 2 && points >= 4;
    },
    null,
    { timeout: 20000 },
  ).catch(() => fail("the dashboard never showed requests and chart points"));
  const requestRows = await page.$$eval("#requests tbody tr", (rows) =>
    rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent.trim())),
  );
  const aggregated = requestRows.find((r) => r[0] === "Aggregated");
  if (!aggregated || !(Number(aggregated[1]) > 0)) fail(`no Aggregated count: ${JSON.stringify(requestRows)}`);
  for (const row of requestRows) {
    if (!Number.isFinite(Number(row[3]))) fail(`a median that is not a number: ${JSON.stringify(row)}`);
  }
  const classes = await page.$$eval("#classes tbody tr.class td:first-child", (cells) => cells.map((c) => c.textContent));
  if (!classes.some((c) => c.startsWith("GuestUser"))) fail(`no GuestUser in the class table: ${classes}`);
  const taskRows = await page.$$eval("#classes tbody tr:not(.class)", (rows) => rows.length);
  if (taskRows < 2) fail("no task rows in the distribution table");
  const latencyPoints = await page.$eval("#chart-latency", (c) => Number(c.dataset.points));
  if (!(latencyPoints > 0)) fail("the latency chart has no points");

  // A control: users up.
  const before = await page.$eval("#users", (e) => Number(e.value));
  const asked = before + 3;
  await page.fill("#users", String(asked));
  await page.fill("#rate", "50");
  await page.click("#apply");
  await page.waitForFunction(
    (n) => [...document.querySelectorAll(".card")].some(
      (c) => c.querySelector(".label").textContent === "users" && Number(c.querySelector(".value").textContent) === n,
    ),
    asked,
    { timeout: 15000 },
  ).catch(() => fail(`the users card never reached ${asked}`));
  await page.screenshot({ path: `${shots}/dashboard.png`, fullPage: true });

  // Scale: 100 request names and an hour of history, rendered as the page does each second.
  // Reported, not asserted (timings belong to benchmarks); the README quotes it.
  const renderMs = await page.evaluate(() => {
    const row = view.requests[0];
    view.requests = Array.from({ length: 100 }, (_, i) => ({ ...row, name: `/cmd${i}` }));
    const point = view.history[view.history.length - 1];
    view.history = Array.from({ length: 3600 }, (_, t) => ({ ...point, t: t + 1, reload: t % 600 === 0 ? 1 : null }));
    view.live = false;
    const times = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      render();
      times.push(performance.now() - t0);
    }
    return Math.max(...times);
  });
  console.log(`browser test: 100 names and 3,600 history points render in ${renderMs.toFixed(1)} ms at most`);
  if (errors.length) fail(`script errors on the dashboard: ${errors.join("; ")}`);

  // The report, opened from the file with no server.
  const report = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  report.on("pageerror", (e) => errors.push(String(e)));
  const requests = [];
  report.on("request", (r) => { if (!r.url().startsWith("file:")) requests.push(r.url()); });
  await report.goto(pathToFileURL(reportFile).href);
  await report.waitForSelector("#requests tbody tr");
  const reportRows = await report.$$eval("#requests tbody tr", (rows) => rows.length);
  if (reportRows < 2) fail("the report's request table is empty");
  const reportPoints = await report.$eval("#chart-rps", (c) => Number(c.dataset.points));
  if (!(reportPoints > 0)) fail("the report's chart has no points");
  if (await report.isVisible("#controls")) fail("the report shows live controls");
  if (requests.length) fail(`the report fetched: ${requests.join(", ")}`);
  await report.screenshot({ path: `${shots}/report.png`, fullPage: true });
  if (errors.length) fail(`script errors: ${errors.join("; ")}`);
  console.log(`browser test: dashboard ${requestRows.length} request rows, ${latencyPoints} latency points; report ${reportRows} rows`);
} finally {
  await browser.close();
}
