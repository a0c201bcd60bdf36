// Drives the dashboard of `stress web` and the HTML report in headless Chromium, as a user
// would, at 1440 and 360 px: start a run from the page, watch it, sort the requests, hover a
// chart, refuse bad input in words, change users, read the failures, the tasks and the logs,
// reset the statistics, download JSON, CSV and the HTML report, stop, see the final state,
// start the next run; then a chaos run's report: its fault window shaded on the charts, the
// Resilience tab. Run by tests/it/browser.rs:
//   node dashboard.mjs WEB_URL REPORT_FILE SCREENSHOT_DIR CHAOS_REPORT_FILE
// Exits non-zero with a message on the first thing that is wrong.
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";
import { readFileSync } from "node:fs";

const [webUrl, reportFile, shots, chaosFile] = process.argv.slice(2);
const fail = (message) => {
  console.error(`browser test: ${message}`);
  process.exit(1);
};
const note = (message) => console.log(`browser test: ${message}`);
const LOCUST_HEADER = "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%";

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const errors = [];
const notFound = [];
async function open(url, width) {
  const context = await browser.newContext({ viewport: { width, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("response", (r) => { if (r.status() === 404) notFound.push(r.url()); });
  await page.goto(url);
  return page;
}
const until = (page, what, fn, arg, timeout = 20000) =>
  page.waitForFunction(fn, arg, { timeout, polling: 100 }).catch(() => fail(`timed out waiting for ${what}`));
const text = (page, selector) => page.$eval(selector, (e) => e.textContent.trim());
const cardValue = (page, label) => page.$$eval(".card", (cards, l) => {
  const c = cards.find((c) => c.querySelector(".label").textContent === l);
  return c ? c.querySelector(".value").textContent : null;
}, label);

// No horizontal scroll, and every control and chart inside the window.
async function fits(page, where) {
  const report = await page.evaluate(() => {
    const width = innerWidth;
    const outside = [...document.querySelectorAll("input, button, canvas, .card, h2")]
      .filter((e) => e.offsetParent !== null && !e.closest(".table-wrap"))
      .filter((e) => e.getBoundingClientRect().right > width + 0.5)
      .map((e) => e.id || e.textContent.trim().slice(0, 20) || e.tagName);
    return { scroll: document.scrollingElement.scrollWidth, width, outside };
  });
  if (report.scroll > report.width) fail(`${where}: the page is ${report.scroll} px wide in a ${report.width} px window`);
  if (report.outside.length) fail(`${where}: outside the window: ${report.outside.join(", ")}`);
}

try {
  // ---- 1440 px: start a run from the page.
  const page = await open(webUrl, 1440);
  if ((await text(page, "#state")) !== "idle") fail("a fresh `stress web` is not idle");
  if (!(await page.isVisible("#start-form"))) fail("no start form before the first run");
  if (await page.isVisible("#controls")) fail("run controls shown with no run");
  const noRun = await page.evaluate(async () => (await fetch("/api/download/json")).status);
  if (noRun !== 409) fail(`a download with no run answered ${noRun}`);
  await page.fill("#start-users", "0");
  await page.click("#start-button");
  await until(page, "the refusal of 0 users", () => document.getElementById("start-message").textContent === "users must be 1 or more");
  await page.fill("#start-users", "6");
  await page.fill("#start-rate", "50");
  await page.fill("#start-time", "2m");
  await page.click("#start-button");
  await until(page, "the run to show requests and chart points", () => {
    const rows = document.querySelectorAll("#requests tbody tr");
    return document.getElementById("state").textContent === "running" && rows.length >= 3 &&
      Number(document.getElementById("chart-rps").dataset.points || 0) >= 8;
  });
  if (await page.isVisible("#start")) fail("the start form is still shown while the run goes on");

  // The requests table: whole (no inner scroll box), Aggregated pinned first, sortable.
  const box = await page.$eval("#requests", (t) => {
    const wrap = t.closest(".table-wrap");
    return { inner: getComputedStyle(wrap).maxHeight, height: wrap.clientHeight, table: t.offsetHeight };
  });
  if (box.inner !== "none" || box.height < box.table) fail(`the requests table scrolls in a box: ${JSON.stringify(box)}`);
  const head = await page.$$eval("#requests thead th", (ths) => ths.map((th) => th.textContent.replace(/[▲▼]/, "")));
  for (const h of ["Avg", "Min", "Max", "Median", "p95", "p99", "req/s", "fail/s", "Replies", "Reply p95"]) {
    if (!head.includes(h)) fail(`no ${h} column: ${head}`);
  }
  const rowsOf = () => page.$$eval("#requests tbody tr", (rows) => rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent.trim())));
  await page.click('#requests th[data-key="count"]');
  let rows = await rowsOf();
  if (rows[0][0] !== "Aggregated") fail(`Aggregated is not pinned first: ${rows[0]}`);
  const counts = rows.slice(1).map((r) => Number(r[1]));
  if (counts.some((c, i) => i > 0 && c > counts[i - 1])) fail(`not sorted by # reqs, most first: ${counts}`);
  await page.click('#requests th[data-key="count"]');
  rows = await rowsOf();
  const ascending = rows.slice(1).map((r) => Number(r[1]));
  if (rows[0][0] !== "Aggregated" || ascending.some((c, i) => i > 0 && c < ascending[i - 1])) fail(`a second click does not reverse: ${ascending}`);
  for (const row of rows) if (!Number.isFinite(Number(row[6]))) fail(`a median that is not a number: ${row}`);

  // Charts: round y ticks, time ticks, a value on hover.
  const ticks = await page.$eval("#chart-latency", (c) => ({ y: c.dataset.yticks.split(" "), x: c.dataset.xticks.split(" ") }));
  const ys = ticks.y.map(Number);
  const step = ys[1] - ys[0];
  const mantissa = step / Math.pow(10, Math.floor(Math.log10(step)));
  const round = [1, 2, 2.5, 5].some((m) => Math.abs(mantissa - m) < 1e-9);
  if (ys[0] !== 0 || !round || ys.some((v, i) => Math.abs(v - i * step) > 1e-9 * step)) fail(`y ticks are not round: ${ticks.y}`);
  if (!ticks.x.length || !ticks.x.every((l) => /^\d+:\d\d(:\d\d)?$/.test(l))) fail(`x ticks are not times: ${ticks.x}`);
  const chartBox = await (await page.$("#chart-rps")).boundingBox();
  await page.mouse.move(chartBox.x + chartBox.width * 0.6, chartBox.y + chartBox.height / 2);
  const hovered = await text(page, "#readout-rps");
  if (!/^at \d:\d\d:\d\d · req\/s \d+/.test(hovered)) fail(`no value on hover: ${hovered}`);
  await page.mouse.move(0, 0);

  // Inputs: the server's values; bad ones refused in words; only what changed is sent.
  await until(page, "the users field to show the goal", () => document.getElementById("users").value === "6");
  await page.fill("#users", "-5");
  await page.click("#apply");
  if ((await text(page, "#message")) !== "users must be 0 or more") fail(`-5 users: ${await text(page, "#message")}`);
  await page.fill("#users", "");
  await page.click("#apply");
  if (!(await text(page, "#message")).startsWith("users is empty")) fail(`empty users: ${await text(page, "#message")}`);
  const sent = [];
  page.on("request", (r) => { if (r.url().endsWith("/api/users")) sent.push(r.postData()); });
  await page.fill("#users", "9");
  await page.click("#apply");
  await until(page, "the users card to reach 9", () => [...document.querySelectorAll(".card")].some(
    (c) => c.querySelector(".label").textContent === "users" && c.querySelector(".value").textContent === "9"));
  if (sent.length !== 1 || JSON.stringify(JSON.parse(sent[0])) !== '{"users":9}') fail(`sent ${sent}, not only the users`);
  const rateShown = await page.$eval("#rate", (e) => e.value);
  if (rateShown !== "50") fail(`the spawn rate field shows ${rateShown}, not the server's 50`);

  // The failures tab (the demo bot fails a share of updates), the tasks and the logs.
  await page.click('.tabs button[data-tab="failures"]');
  await until(page, "a failure row", () => document.querySelectorAll("#failures tbody tr td").length >= 5 &&
    document.querySelector("#failures tbody td").textContent !== "No failed requests.");
  const failure = await page.$eval("#failures tbody tr", (r) => [...r.querySelectorAll("td")].map((td) => td.textContent));
  if (!failure[1].startsWith("http_5xx") || failure[2] !== "500" || !failure[4]) fail(`a failure row without kind, status or message: ${failure}`);
  const kinds = await text(page, "#kinds tbody");
  if (!kinds.includes("http_5xx")) fail(`no failures by kind: ${kinds}`);
  await page.click('.tabs button[data-tab="tasks"]');
  const tasks = await page.$$eval("#classes tbody tr:not(.class)", (rows) => rows.map((r) => ({
    mark: !!r.querySelector(".track .mark"), fill: !!r.querySelector(".track .fill"), left: r.querySelector(".track").getBoundingClientRect().left,
  })));
  if (tasks.length < 2 || !tasks.every((t) => t.mark && t.fill)) fail("task rows without an observed bar and a declared mark");
  if (new Set(tasks.map((t) => Math.round(t.left))).size !== 1) fail("the task bars do not share a baseline");
  await page.check('input[name="window"][value="recent"]');
  const recentHead = await text(page, "#classes thead");
  if (!recentHead.includes("Calls (60 s)")) fail(`no last-60-s view: ${recentHead}`);
  await page.click('.tabs button[data-tab="logs"]');
  if (!(await page.isVisible("#logs"))) fail("no logs panel");
  await page.click('.tabs button[data-tab="requests"]');

  // Reset: the counts start over, and the history marks it.
  const before = Number(rows[0][1]);
  await page.click("#reset");
  await until(page, "the reset to show in the counts and the history", (n) => {
    const agg = document.querySelector("#requests tbody tr.total td:nth-child(2)");
    return agg && Number(agg.textContent) < n && view.history.some((p) => p.reset);
  }, before);

  // Downloads: the result JSON, Locust's CSV, the HTML report.
  const download = async (label) => {
    const [file] = await Promise.all([page.waitForEvent("download", { timeout: 15000 }), page.click(`[data-download$="${label}"]`)]);
    const path = `${shots}/${file.suggestedFilename()}`;
    await file.saveAs(path);
    return { name: file.suggestedFilename(), path };
  };
  const json = await download("json");
  const result = JSON.parse(readFileSync(json.path, "utf8"));
  if (result.schema !== "stress.result/v1" || !result.history.some((p) => p.reset)) fail(`the JSON is not a result with the reset: ${json.name}`);
  const csv = await download("csv");
  const csvHead = readFileSync(csv.path, "utf8").split("\n")[0].trim();
  // Locust's columns, in Locust's order (ours may follow them).
  if (!(csvHead === LOCUST_HEADER || csvHead.startsWith(LOCUST_HEADER + ","))) fail(`the CSV header is not Locust's: ${csvHead}`);
  const html = await download("report.html");
  const downloaded = await open(pathToFileURL(html.path).href, 1440);
  await downloaded.waitForSelector("#requests tbody tr");
  if (!(await downloaded.$eval("#chart-rps", (c) => Number(c.dataset.points) > 0))) fail("the downloaded report has no chart points");
  await downloaded.context().close();
  await page.screenshot({ path: `${shots}/dashboard-1440.png`, fullPage: true });

  // ---- 360 and 390 px, the same run.
  for (const width of [360, 390]) {
    const narrow = await open(webUrl, width);
    await until(narrow, "the narrow page to fill", () => document.querySelectorAll("#requests tbody tr").length >= 3);
    await fits(narrow, `the dashboard at ${width} px`);
    for (const tab of ["failures", "tasks", "logs", "more", "requests"]) {
      await narrow.click(`.tabs button[data-tab="${tab}"]`);
      await fits(narrow, `the ${tab} tab at ${width} px`);
    }
    if (width === 360) await narrow.screenshot({ path: `${shots}/dashboard-360.png`, fullPage: true });
    await narrow.context().close();
  }

  // Stop: the final state, controls gone, the final numbers fetched.
  await page.click("#stop");
  await until(page, "the stopped state", () => document.getElementById("state").textContent === "stopped", null, 30000);
  const clockText = await text(page, "#clock");
  if (!/^stopped after \d:\d\d:\d\d$/.test(clockText)) fail(`the header says: ${clockText}`);
  if (await page.isVisible("#controls")) fail("the run controls are still shown after the stop");
  if (!(await page.isVisible("#start-form"))) fail("no start form after the run");
  const final = await page.evaluate(async () => {
    const server = await (await fetch("/api/stats")).json();
    return { shown: Number(document.querySelector("#requests tbody tr.total td:nth-child(2)").textContent), server: server.all.count, points: server.history.length, seen: view.history.length };
  });
  if (final.shown !== final.server || final.points !== final.seen) fail(`the final numbers were not fetched: ${JSON.stringify(final)}`);
  await page.screenshot({ path: `${shots}/dashboard-stopped.png`, fullPage: true });

  // The next run, from the same page, with the form as the user left it.
  if ((await page.$eval("#start-users", (e) => e.value)) !== "6") fail("the start form forgot the last run's users");
  await page.fill("#start-time", "3s");
  await page.click("#start-button");
  await until(page, "the second run to finish", () => document.getElementById("state").textContent === "finished" &&
    /^finished after 0:00:0[34]$/.test(document.getElementById("clock").textContent), null, 30000);
  const restarted = await page.evaluate(() => view.history.every((p) => p.t <= 4) && !view.history.some((p) => p.reset));
  if (!restarted) fail("the second run's charts carry the first run's history");

  // Scale: 100 request names and an hour of history, rendered as the page does each second.
  // Reported, not asserted (timings belong to benchmarks).
  const renderMs = await page.evaluate(() => {
    const row = view.all;
    view.requests = Array.from({ length: 100 }, (_, i) => ({ ...row, name: `/cmd${i}` }));
    const point = view.history[view.history.length - 1];
    view.history = Array.from({ length: 3600 }, (_, t) => ({ ...point, t: t + 1, reload: t % 600 === 0 ? 1 : null }));
    const times = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      render();
      times.push(performance.now() - t0);
    }
    return Math.max(...times);
  });
  note(`100 names and 3,600 history points render in ${renderMs.toFixed(1)} ms at most`);

  // ---- The report (--html), opened from the file with no server, at both widths.
  for (const width of [1440, 360]) {
    const report = await open(pathToFileURL(reportFile).href, width);
    const fetched = [];
    report.on("request", (r) => { if (!r.url().startsWith("file:") && !r.url().startsWith("data:")) fetched.push(r.url()); });
    await report.reload();
    await report.waitForSelector("#requests tbody tr");
    const reportRows = await report.$$eval("#requests tbody tr", (r) => r.length);
    if (reportRows < 2) fail("the report's request table is empty");
    if (!(await report.$eval("#chart-rps", (c) => Number(c.dataset.points) > 0))) fail("the report's chart has no points");
    if (await report.isVisible("#controls") || await report.isVisible("#start") || await report.isVisible("#downloads")) fail("the report shows live controls");
    if ((await text(report, "#state")) !== "finished") fail("the report does not say finished");
    if (await report.isVisible("#tab-resilience") || (await cardValue(report, "duplicate replies")) !== null) fail("a run without chaos shows resilience");
    await fits(report, `the report at ${width} px`);
    if (fetched.length) fail(`the report fetched: ${fetched.join(", ")}`);
    await report.screenshot({ path: `${shots}/report-${width}.png`, fullPage: true });
    await report.context().close();
  }
  // ---- A chaos run's report: the window shaded and named on the charts, hovered, and listed.
  for (const width of [1440, 360]) {
    const chaos = await open(pathToFileURL(chaosFile).href, width);
    await chaos.waitForSelector("#requests tbody tr");
    for (const id of ["chart-rps", "chart-latency", "chart-users"]) {
      const bands = await chaos.$eval(`#${id}`, (c) => c.dataset.bands);
      if (bands !== "webhook cut") fail(`${id} at ${width} px does not mark the fault window: "${bands}"`);
    }
    const inside = await chaos.$eval("#chart-rps", (c) => {
      const g = c._geom, r = c.getBoundingClientRect();
      return { x: r.left + g.pad.l + ((2 - g.tMin) / (g.tMax - g.tMin)) * g.pw, y: r.top + r.height / 2 };
    });
    await chaos.mouse.move(inside.x, inside.y);
    const readout = await text(chaos, "#readout-rps");
    if (!readout.startsWith("at 0:00:02") || !readout.endsWith("in webhook cut")) fail(`the readout inside the window: ${readout}`);
    await chaos.mouse.move(0, 0);
    if ((await cardValue(chaos, "slowest recovery")) !== "never") fail("no slowest recovery card saying the window never recovered");
    await chaos.click('.tabs button[data-tab="resilience"]');
    const row = await chaos.$eval("#windows tbody tr", (r) => [...r.querySelectorAll("td")].map((td) => ({ text: td.innerText.trim(), bad: !!td.querySelector(".fail") })));
    const cells = row.map((c) => c.text);
    if (!cells[0].startsWith("webhook cut") || cells[1] !== "0:01–0:02" || cells[2] !== "3" || cells[6] !== "7") fail(`the window's row: ${cells}`);
    if (cells[10] !== "not recovered" || !row[10].bad) fail(`a window never recovered is not shown in red: ${JSON.stringify(row[10])}`);
    const flood = await text(chaos, "#flood");
    if (!flood.startsWith("Flood limits (enforce): your bot sent 45 messages/s") || !flood.includes("15 messages refused with 429") || !flood.includes("2 violations")) fail(`the flood line: ${flood}`);
    await fits(chaos, `the chaos report at ${width} px`);
    await chaos.screenshot({ path: `${shots}/report-chaos-${width}.png`, fullPage: true });
    await chaos.context().close();
  }
  if (notFound.length) fail(`404s: ${notFound.join(", ")}`);
  if (errors.length) fail(`script errors: ${errors.join("; ")}`);
  note(`started, reset, downloaded (${json.name}, ${csv.name}, ${html.name}), stopped and restarted; no horizontal scroll at 360 and 390 px`);
} finally {
  await browser.close();
}
