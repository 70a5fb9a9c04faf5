import { readFileSync } from 'node:fs';
import type { APIRequestContext } from '@playwright/test';
import { certificateIds, expect, moveClock, newPage, open, row, serverNow, shot, signIn, signInAsAdmin, tenantId, test } from './helpers';

// Clock spec (project clock): it moves the server's clock to the start of a minute and a minute on,
// so that the minute is rolled up. Its tenant, product and agents are named after the test's tag.

const MINUTE = 60_000;

async function registerAgent(request: APIRequestContext, key: string, machine: string): Promise<string> {
  const r = await request.post('/api/v1/agents/register', { data: { enrollment_key: key, machine_id: machine } });
  expect(r.status()).toBe(200);
  return (await r.json()).token;
}

async function checkout(request: APIRequestContext, token: string): Promise<number> {
  const r = await request.post('/api/v1/agents/checkout', { headers: { authorization: `Bearer ${token}` } });
  return r.status();
}

test('Settings > Usage shows the peak, sizes the pool and exports it; a License manager sees their tenant', async ({ page, browser, request, seed, tag }) => {
  const tenant = `Usage ${tag}`;
  const product = `usage-${tag}`;
  const productName = `Usage Product ${tag}`;
  const tenantKey = await seed.tenant(tenant);
  // Platform licenses for Default (the administrator's) and the tenant, and two floating agent
  // licenses of a product of this test's own, in the tenant's pool.
  const pkg = await seed.install((request) => [
    { type: 'platform', product: 'ai-server', product_name: `Usage Platform ${tag}`, mode: 'subscription', days: 365, tenant: tenantId(request, 'Default') },
    { type: 'platform', product: 'ai-server', product_name: `Usage Platform ${tag}`, mode: 'subscription', days: 365, tenant: tenantId(request, tenant) },
    { type: 'agent', product, product_name: productName, mode: 'subscription', days: 90, binding: 'floating' },
    { type: 'agent', product, product_name: productName, mode: 'subscription', days: 90, binding: 'floating' },
  ]);
  for (const license_id of certificateIds(pkg).slice(2)) {
    await seed.call('tenants/assign', { tenant_id: tenantKey, license_id });
  }
  const listing = await seed.call('tenants/list', {});
  const key = listing.tenants.find((t: { id: string }) => t.id === tenantKey).enrollment_key;
  const tokens = [];
  for (const n of [1, 2, 3]) {
    tokens.push(await registerAgent(request, key, `${tag}-${n}`));
  }

  // A second into a minute two agents take both licenses and the third is refused three times;
  // a minute and more on, that minute is rolled up.
  const now = await serverNow();
  await moveClock(MINUTE - (now % MINUTE) + 1_000);
  expect(await checkout(request, tokens[0])).toBe(200);
  expect(await checkout(request, tokens[1])).toBe(200);
  for (let i = 0; i < 3; i++) {
    expect(await checkout(request, tokens[2])).toBe(402);
  }
  await moveClock(70_000);

  await signInAsAdmin(page);
  await page.getByRole('link', { name: 'Usage', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Usage', level: 1 })).toBeVisible();
  await page.getByLabel('Period').selectOption({ label: 'Last day' });
  await page.getByLabel('Tenant').selectOption({ label: tenant });
  await page.getByLabel('Product').selectOption({ label: productName });
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page).toHaveURL(/period=day/);
  await expect(page.getByRole('img', { name: 'Floating agent licenses: in use and owned' })).toBeVisible();
  // The peak, read from the chart's figures: both licenses in use, both owned.
  await page.getByText('The figures').first().click();
  await expect(page.getByRole('row', { name: /\s2\s2$/ }).first()).toBeVisible();
  // The pool: two owned, three wanted at the peak (one agent refused), two in use at the peak,
  // none never used, three refusals of one agent; over the day's minutes, 95% of the time none
  // was in use.
  const pool = row(page, tenant);
  await expect(pool.getByRole('cell')).toHaveText([productName, 'Floating agent licenses', '2', '3', '0', '2', '0', '0', /%$/, '3', '1']);
  await shot(page, 'usage');

  // Another period: hours, the same peak.
  await page.getByLabel('Period').selectOption({ label: 'Last 7 days' });
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page).toHaveURL(/period=7d/);
  await expect(row(page, tenant).getByRole('cell').nth(5)).toHaveText('2');

  // The figures as CSV: the minute's peak, what was owned, three refusals by one agent, two of
  // the tenant's three agents licensed.
  await page.getByLabel('Period').selectOption({ label: 'Last day' });
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page).toHaveURL(/period=day/);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download CSV' }).click()]);
  expect(download.suggestedFilename()).toBe('tessera-usage.csv');
  const csv = readFileSync(await download.path(), 'utf8');
  expect(csv.startsWith('start_utc,floating_in_use_peak,floating_owned,refused_checkouts,agents_refused')).toBe(true);
  expect(csv).toContain(',2,2,3,1,0,0,2,3\r\n');

  // A License manager of the tenant: their tenant only.
  const manager = `usage-lm-${tag}`;
  await seed.user(manager, 'usage-password-1', 'license_manager', tenantKey);
  const theirs = await newPage(browser);
  await signIn(theirs, manager, 'usage-password-1');
  await open(theirs, '/settings/usage?period=day');
  await expect(theirs.getByLabel('Tenant').getByRole('option')).toHaveText([tenant]);
  await expect(row(theirs, tenant).getByRole('cell').nth(5)).toHaveText('2');
  await shot(theirs, 'usage-license-manager');

  // In Russian: the charts' units, the tables and the kinds in the page's language.
  await theirs.getByRole('button', { name: 'Русский' }).click();
  await expect(theirs.getByRole('heading', { name: 'Использование', level: 1 })).toBeVisible();
  await expect(row(theirs, tenant).getByRole('cell').nth(1)).toHaveText('Плавающие лицензии агентов');
  await expect(theirs.getByText('лицензии', { exact: true })).toBeVisible();
  await shot(theirs, 'usage-ru');
  await theirs.getByRole('button', { name: 'English' }).click();
  await expect(theirs.getByRole('button', { name: 'Русский' })).toBeVisible();

  // Without JavaScript: the page is served whole, and the filter is a plain GET form.
  const plain = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
  await signIn(plain, manager, 'usage-password-1');
  await plain.goto('/settings/usage');
  await plain.getByLabel('Period').selectOption({ label: 'Last day' });
  await plain.getByRole('button', { name: 'Show' }).click();
  await expect(plain).toHaveURL(/period=day/);
  await expect(row(plain, tenant).getByRole('cell').nth(5)).toHaveText('2');
  await expect(plain.getByRole('img', { name: 'Floating agent licenses: in use and owned' })).toBeVisible();
  await shot(plain, 'usage-no-js');
});
