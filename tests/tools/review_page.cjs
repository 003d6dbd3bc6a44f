#!/usr/bin/env node
// An expert at the review page, in Debian's Chromium driven by Playwright (playwright-core, no
// browser download): opens BASE/review, gives the token, labels N items with the keyboard (key 1:
// the first label offered), checks the page counts them, and writes a screenshot.
//
//   node review_page.cjs BASE TOKEN N SCREENSHOT   → prints {"labelled": [ids...], "given": "N"}
"use strict";
const path = require("path");
const { chromium } = require(path.join(process.env.DRIFTD_NODE_MODULES, "playwright-core"));

(async () => {
  const [base, token, n, shot] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.DRIFTD_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
    // Nothing may leave the machine: every request but to the daemon is refused.
    await page.route("**/*", (route) =>
      route.request().url().startsWith(base) ? route.continue() : route.abort());
    await page.goto(base + "/review");
    await page.getByLabel("Your token").fill(token);
    await page.keyboard.press("Enter");
    const labelled = [];
    for (let i = 0; i < Number(n); i++) {
      await page.waitForSelector("button.label", { timeout: 20000 });
      const title = await page.textContent("#item-title");
      labelled.push(title.replace("Prediction ", ""));
      await page.keyboard.press("1");
      await page.waitForFunction(
        (prev) => document.querySelector("#item-title").textContent !== prev, title, { timeout: 20000 });
    }
    await page.waitForFunction((k) => document.querySelector("#given") &&
      document.querySelector("#given").textContent === k, String(n), { timeout: 20000 });
    const given = await page.textContent("#given");
    // Today's labels as the daemon counts them (all experts): at least hers.
    await page.waitForFunction((k) => Number(document.querySelector("#today").textContent) >= k,
      Number(n), { timeout: 20000 });
    await page.screenshot({ path: shot, fullPage: true });
    console.log(JSON.stringify({ labelled, given }));
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
