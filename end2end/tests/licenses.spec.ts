import { expect, test } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUser, issue, open, requestLicenses, signIn, signInAsAdmin } from './helpers';

const spec = [
  { type: 'platform', product: 'ai-server', product_name: 'AI Server', mode: 'subscription', days: 365 },
  { type: 'agent', product: 'ai-server', product_name: 'AI Server agent', mode: 'subscription', days: 365, binding: 'floating', count: 10 },
  { type: 'personal', product: 'crm', product_name: 'CRM Sales', mode: 'buyout', permanent: true, seats: 5 },
];

test.describe.configure({ mode: 'serial' });

test('request, issue with tessera-vendor, upload, preview, confirm, and find the licenses', async ({ page }) => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
  await signInAsAdmin(page);
  const request = await requestLicenses(page, dir);
  await page.screenshot({ path: 'test-results/request.png', fullPage: true });
  const pkg = issue(dir, request, spec);

  await open(page, '/settings/licenses');
  await page.getByRole('link', { name: 'Upload license package' }).click();
  await page.getByLabel('License package (.lcs)').setInputFiles(pkg);
  await page.getByRole('button', { name: 'Check the package' }).click();
  await expect(page.getByRole('heading', { name: 'Preview of the package' })).toBeVisible();
  const summary = page.getByTestId('preview-summary');
  await expect(summary).toContainText(/extends tenant Default to \w+ \d+, \d{4}/);
  await expect(summary).toContainText('adds 10 floating agent licenses');
  await expect(summary).toContainText('adds 5 personal seats');
  await page.screenshot({ path: 'test-results/preview.png', fullPage: true });
  // Nothing is installed before confirming.
  await page.waitForLoadState('networkidle');
  await page.getByRole('button', { name: 'Confirm' }).click();

  await expect(page).toHaveURL(/\/settings\/licenses\?installed=12/);
  await expect(page.getByRole('status')).toContainText('12 certificates installed.');
  const table = page.getByTestId('licenses');
  await expect(table.getByRole('row')).toHaveCount(13);
  await expect(page.getByText(/platform licensed until/)).toBeVisible();
  await page.screenshot({ path: 'test-results/licenses-list.png', fullPage: true });

  // Search.
  await page.getByLabel('Search').fill('crm');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page).toHaveURL(/q=crm/);
  await expect(table.getByRole('row')).toHaveCount(2);
  await expect(table).toContainText('CRM Sales');

  // Filter by status and type, state in the URL.
  await open(page, '/settings/licenses');
  await page.getByLabel('Status').selectOption({ label: 'Activated' });
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page).toHaveURL(/status=activated/);
  await expect(table.getByRole('row')).toHaveCount(2);
  await expect(table).toContainText('AI Server');
  await open(page, '/settings/licenses?type=agent');
  await expect(table.getByRole('row')).toHaveCount(11);

  // Sort by product, both ways.
  await open(page, '/settings/licenses');
  await page.getByRole('link', { name: 'Product' }).click();
  await expect(page).toHaveURL(/sort=product&dir=asc/);
  await expect(table.getByRole('row').nth(1)).toContainText('AI Server');
  await page.getByRole('link', { name: /Product/ }).click();
  await expect(page).toHaveURL(/sort=product&dir=desc/);
  await expect(table.getByRole('row').nth(1)).toContainText('CRM Sales');

  // The same package again changes nothing.
  await open(page, '/settings/licenses/upload');
  await page.getByLabel('License package (.lcs)').setInputFiles(pkg);
  await page.getByRole('button', { name: 'Check the package' }).click();
  await expect(page.getByText('12 certificates, 0 new.')).toBeVisible();
});

test('a License manager sees the list but no upload or delete', async ({ browser }) => {
  const admin = await (await browser.newContext()).newPage();
  await signInAsAdmin(admin);
  await createUser(admin, 'lena', 'lena-password-1', 'License manager');

  const page = await (await browser.newContext()).newPage();
  await signIn(page, 'lena', 'lena-password-1');
  await expect(page).toHaveURL(/\/settings\/licenses$/);
  await expect(page.getByTestId('licenses').getByRole('row')).toHaveCount(13);
  await expect(page.getByRole('link', { name: 'Upload license package' })).toHaveCount(0);
  await expect(page.getByRole('link', { name: 'Request licenses' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Delete all licenses' })).toHaveCount(0);
  const response = await page.goto('/settings/licenses/upload');
  expect(response?.status()).toBe(403);
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('a bad package is refused with each block named', async ({ page }) => {
    await page.goto('/login');
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password').fill('admin-password-1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.goto('/settings/licenses/upload');
    await page.getByLabel('License package (.lcs)').setInputFiles({
      name: 'broken.lcs',
      mimeType: 'text/plain',
      buffer: Buffer.from('-----BEGIN TESSERA CERTIFICATE-----\n%%%\n-----END TESSERA CERTIFICATE-----\n'),
    });
    const preview = page.waitForResponse((r) => r.url().includes('/settings/licenses/upload/'));
    await page.getByRole('button', { name: 'Check the package' }).click();
    // The refusal's page is served with the refusal's status.
    expect((await preview).status()).toBe(422);
    await expect(page.getByTestId('refusal')).toContainText('the package was refused, and nothing changed.');
    await expect(page.getByTestId('refusals')).toContainText('Block 1');
    await expect(page.getByTestId('refusals')).toContainText('malformed');
    await page.screenshot({ path: 'test-results/refused.png', fullPage: true });
  });
});
