import { expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { open, signIn, signInAsAdmin } from './helpers';

// Runs after the specs that uploaded licenses, gave seats and signed in (files run in name
// order), and before zz-expiry.spec.ts moves the clock.

test('the audit log lists what was done, filters by kind and user, and downloads as CSV', async ({ page }) => {
  // A failed sign-in, recorded with the name as typed.
  await signIn(page, 'seat-manager', 'not-the-password');
  await expect(page.getByRole('alert')).toBeVisible();
  await signInAsAdmin(page);
  await page.getByRole('link', { name: 'Audit log' }).click();
  const table = page.getByTestId('audit');
  await expect(table).toContainText('Package confirmed');
  await expect(table).toContainText('Seats given');
  await expect(table).toContainText('Failed sign-in');
  await page.screenshot({ path: 'test-results/audit.png', fullPage: true });

  await page.getByLabel('What').selectOption({ label: 'Seats given' });
  await page.getByLabel('User', { exact: true }).fill('seat-manager');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/kind=seats_apply/);
  const rows = table.locator('tbody tr');
  await expect(rows.first()).toBeVisible();
  for (const row of await rows.all()) {
    await expect(row).toContainText('Seats given');
    await expect(row).toContainText('seat-manager');
  }

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download CSV' }).click(),
  ]);
  expect(download.suggestedFilename()).toBe('tessera-audit.csv');
  const csv = readFileSync(await download.path(), 'utf8');
  expect(csv.split('\n')[0]).toContain('kind');
  expect(csv).toContain('seats_apply');
  expect(csv).not.toContain('license_confirm');
});

test('a License manager cannot open the audit log', async ({ page }) => {
  await signIn(page, 'seat-manager', 'seat-password-1');
  await expect(page).toHaveURL(/\/settings\/licenses$/);
  await expect(page.getByRole('link', { name: 'Audit log' })).toHaveCount(0);
  const response = await page.goto('/settings/audit');
  expect(response?.status()).toBe(403);
  await open(page, '/settings/licenses');
});
