import { expect, test, type Page } from '@playwright/test';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUser, issue, open, requestLicenses, signIn, signInAsAdmin, uploadAndConfirm } from './helpers';

// Runs last (files run in name order): it moves the server's clock a year forward. The server of
// the browser tests runs with TESSERA_TEST_CLOCK=1, which mounts POST /__test/clock.
test.describe.configure({ mode: 'serial' });

const DAY = 86_400_000;

async function moveClock(page: Page, ms: number) {
  const res = await page.request.post('/__test/clock', { data: { advance_ms: ms } });
  expect(res.ok()).toBeTruthy();
}

/** The id of the tenant named `name`, read from a license request file. */
function tenantId(requestPath: string, name: string): string {
  const text = readFileSync(requestPath, 'utf8');
  const b64 = text.split('-----BEGIN TESSERA LICENSE REQUEST-----')[1].split('-----END')[0].replace(/\s+/g, '');
  const request = JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
  return request.tenants.find((t: { name: string }) => t.name === name).id;
}

test('10 days before expiry the bell and the banner show what expires and when', async ({ page }) => {
  await signInAsAdmin(page);
  await createUser(page, 'expiry-user', 'expiry-password-1', 'User');
  // licenses.spec.ts licensed the Default tenant for 365 days from its start: 355 days on, it
  // expires in about 10 days.
  await moveClock(page, 355 * DAY);
  // Sessions last hours: after moving the clock by days, sign in again.
  await signInAsAdmin(page);
  const banner = page.getByTestId('expiry-banner');
  await expect(banner).toContainText('Licenses expiring soon');
  await expect(banner).toContainText(/Platform license of tenant Default expires on \w+ \d+, \d{4}/);
  await expect(page.getByTestId('bell-count')).toHaveText(/^[1-9]\d*$/);
  await page.screenshot({ path: 'test-results/expiry-banner.png', fullPage: true });
  await page.getByRole('link', { name: /^Notifications: \d+ unread$/ }).click();
  await expect(page.getByRole('heading', { name: 'Notifications' })).toBeVisible();
  await expect(page.getByTestId('notifications')).toContainText('reminder 15 days before');
  await page.screenshot({ path: 'test-results/notifications.png', fullPage: true });
});

test('past expiry a User sees the renewal page; the administrator renews and it lifts', async ({ browser }) => {
  const user = await (await browser.newContext()).newPage();
  await moveClock(user, 11 * DAY);
  await signIn(user, 'expiry-user', 'expiry-password-1');
  await expect(user.getByRole('heading', { name: 'The platform license has expired' })).toBeVisible();
  await expect(user.getByTestId('renewal')).toContainText('Ask your administrator to upload a new license.');
  await user.screenshot({ path: 'test-results/renewal.png', fullPage: true });

  // The administrator, headed for Settings > Users, lands on Settings > Licenses.
  const admin = await (await browser.newContext()).newPage();
  await open(admin, '/login?next=%2Fsettings%2Fusers');
  await admin.getByLabel('User name').fill('admin');
  await admin.getByLabel('Password').fill('admin-password-1');
  await admin.getByRole('button', { name: 'Sign in' }).click();
  await expect(admin).toHaveURL(/\/settings\/licenses$/);
  // Other pages show the renewal page.
  await open(admin, '/settings/users');
  await expect(admin.getByRole('heading', { name: 'The platform license has expired' })).toBeVisible();

  // Renew: request, the vendor issues a platform license for Default, upload, confirm.
  const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-renew-'));
  const request = await requestLicenses(admin, dir);
  const pkg = issue(dir, request, [
    { type: 'platform', product: 'ai-server', product_name: 'AI Server', mode: 'subscription', days: 365, tenant: tenantId(request, 'Default') },
  ]);
  await uploadAndConfirm(admin, pkg);
  await open(admin, '/settings/users');
  await expect(admin.getByRole('heading', { name: 'Users' })).toBeVisible();

  // The User's pages are back, without a restart.
  await open(user, '/');
  await expect(user.getByText('You are signed in as expiry-user.')).toBeVisible();
});
