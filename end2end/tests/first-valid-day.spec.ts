import { expect, test } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issue, open, requestLicenses, signInAsAdmin, uploadAndConfirm } from './helpers';

// Runs after zzz-revoked.spec.ts (files run in name order), with the clock the earlier files left.
const DAY = 86_400_000;

test('a license waits for its first valid day, then activates by itself', async ({ page }) => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
  await signInAsAdmin(page);
  const clock = await page.request.post('/__test/clock', { data: { advance_ms: 0 } });
  expect(clock.ok()).toBeTruthy();
  const now: number = (await clock.json()).now_ms;
  const firstDay = new Date(now + 10 * DAY).toISOString().slice(0, 10);
  const request = await requestLicenses(page, dir);
  const pkg = issue(dir, request, [
    { type: 'server', product: 'ai-server', product_name: 'Next year', mode: 'subscription', days: 30, feature: 'first-day-test', not_before: firstDay },
  ]);

  await open(page, '/settings/licenses/upload');
  await page.getByLabel('License package (.lcs)').setInputFiles(pkg);
  await page.getByRole('button', { name: 'Check the package' }).click();
  await expect(page.getByRole('heading', { name: 'Preview of the package' })).toBeVisible();
  await expect(page.getByTestId('preview-summary')).toContainText(
    /unlocks first-day-test for all users from \w+ \d+, \d{4}, the first day it is valid/,
  );
  await page.screenshot({ path: 'test-results/preview-first-day.png', fullPage: true });
  await page.waitForLoadState('networkidle');
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect(page).toHaveURL(/\/settings\/licenses\?installed=1/);

  await open(page, '/settings/licenses?status=unused&q=Next%20year');
  const row = page.getByTestId('licenses').getByRole('row').filter({ hasText: 'Next year' });
  await expect(row).toHaveCount(1);
  await expect(row).toContainText(/not before \w+ \d+, \d{4}/);
  await page.screenshot({ path: 'test-results/licenses-not-before.png', fullPage: true });

  // On that day the sweeper (run by the test clock's route) activates it.
  const moved = await page.request.post('/__test/clock', { data: { advance_ms: 10 * DAY + 60_000 } });
  expect(moved.ok()).toBeTruthy();
  await signInAsAdmin(page);
  await open(page, '/settings/licenses?status=activated&q=Next%20year');
  await expect(page.getByTestId('licenses').getByRole('row').filter({ hasText: 'Next year' })).toHaveCount(1);
});

test('a platform license assigned before its first valid day waits for it', async ({ page }) => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
  await signInAsAdmin(page);
  const clock = await page.request.post('/__test/clock', { data: { advance_ms: 0 } });
  const now: number = (await clock.json()).now_ms;
  const firstDay = new Date(now + 5 * DAY).toISOString().slice(0, 10);
  // A tenant of its own: with several, an unnamed platform license awaits an assignment.
  await open(page, '/settings/tenants');
  await page.getByLabel('Tenant name').fill('Renewals');
  await page.getByRole('button', { name: 'Create tenant' }).click();
  await expect(page.getByRole('status')).toHaveText('Tenant created.');
  const pkg = issue(dir, await requestLicenses(page, dir), [
    { type: 'platform', product: 'ai-server', product_name: 'Acme Renewal', mode: 'subscription', days: 30, not_before: firstDay },
  ]);
  await uploadAndConfirm(page, pkg);

  await open(page, '/settings/tenants');
  const tenant = page.locator('section[data-tenant="Renewals"]');
  await page.getByLabel('License', { exact: true }).selectOption({ label: 'Acme Renewal · Platform · 30 days' });
  await page.getByLabel('Tenant', { exact: true }).selectOption({ label: 'Renewals' });
  await page.getByRole('button', { name: 'Assign', exact: true }).click();
  await expect(page.getByRole('status')).toHaveText(
    'License assigned: it cannot be activated yet, and activates by itself on its first valid day.',
  );
  await expect(tenant.getByTestId('platform-until')).toHaveText('none');
  await page.screenshot({ path: 'test-results/tenants-scheduled.png', fullPage: true });

  // On that day it licenses the tenant.
  await page.request.post('/__test/clock', { data: { advance_ms: 5 * DAY + 60_000 } });
  await signInAsAdmin(page);
  await open(page, '/settings/tenants');
  await expect(tenant.getByTestId('platform-until')).toHaveText(/\w+ \d+, \d{4}/);
});
