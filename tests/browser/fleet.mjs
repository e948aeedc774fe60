// The fleet page in Debian's Chromium, driven by Playwright: sign in with a token, read the fleet-wide counts,
// filter by state and by name on the server, page on, and keep a screenshot. Prints one JSON line of what it
// saw; exits non-zero on the first expectation that fails.
//   FLEET_URL   the service (http://127.0.0.1:PORT)    FLEET_TOKEN  an ARM token
//   EXPECT_TOTAL  clusters in the fleet                 FAILED_CLUSTER  the name of the one cluster with a Failed resource
//   SCREENSHOT  where to write the PNG
import { chromium } from "playwright-core";

const { FLEET_URL, FLEET_TOKEN, EXPECT_TOTAL, FAILED_CLUSTER, SCREENSHOT } = process.env;

function expect(condition, message) {
  if (!condition) {
    console.error(`FAILED: ${message}`);
    process.exit(1);
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const seen = {};

  // Without a token: 401 and the way to sign in.
  const refused = await page.goto(`${FLEET_URL}/fleet`);
  expect(refused.status() === 401, `the page without a token is 401, not ${refused.status()}`);
  await page.getByRole("link", { name: /Sign in/ }).click();
  await page.locator("#token").fill(FLEET_TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForSelector('[data-testid="clusters"]');

  // Fleet-wide counts.
  const total = await page.getByTestId("total-clusters").textContent();
  seen.total = Number(total);
  expect(seen.total === Number(EXPECT_TOTAL), `${EXPECT_TOTAL} clusters, not ${total}`);
  seen.firstPageRows = await page.getByTestId("cluster").count();
  expect(seen.firstPageRows === 50, `a page of 50 clusters, not ${seen.firstPageRows}`);
  expect(await page.getByTestId("count-Failed").count() === 1, "a Failed count links to its clusters");

  // Filter by state: the one cluster with a failed configuration, with its error.
  await page.locator("#state").selectOption("Failed");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/state=Failed/);
  seen.failedRows = await page.getByTestId("cluster").count();
  expect(seen.failedRows === 1, `one Failed cluster, not ${seen.failedRows}`);
  const failedRow = page.getByTestId("cluster").first();
  expect((await failedRow.textContent()).includes(FAILED_CLUSTER), `the Failed cluster is ${FAILED_CLUSTER}`);
  seen.error = await failedRow.getByTestId("error").first().textContent();
  expect(seen.error.length > 0, "its error is shown");

  // Filter by name, then page on.
  await page.locator("#state").selectOption("");
  await page.locator("#name").fill("fleet-1");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/name=fleet-1/);
  seen.nameMatches = await page.getByTestId("matching").textContent();
  const firstName = await page.getByTestId("cluster").first().textContent();
  await page.getByTestId("next").click();
  await page.waitForURL(/after=/);
  const secondPageFirst = await page.getByTestId("cluster").first().textContent();
  expect(secondPageFirst !== firstName, "the next page shows other clusters");
  expect((await page.locator("#name").inputValue()) === "fleet-1", "paging keeps the filter");
  for (const row of await page.getByTestId("cluster").all()) {
    expect((await row.locator("td").first().textContent()).includes("fleet-1"), "every row matches the name");
  }

  await page.goto(`${FLEET_URL}/fleet`);
  await page.screenshot({ path: SCREENSHOT, fullPage: false });
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
