import { expect, test, type Page } from '@playwright/test';
import { createUser, open, signIn, signInAsAdmin } from './helpers';

// Runs after licenses.spec.ts, which installed "CRM Sales": a personal license of 5 seats.
test.describe.configure({ mode: 'serial' });

async function openProduct(page: Page) {
  await open(page, '/settings/licenses');
  await page.getByRole('link', { name: 'CRM Sales' }).click();
  await expect(page.getByRole('heading', { name: 'CRM Sales' })).toBeVisible();
}

function seatNumbers(page: Page, used: number, free: number) {
  return expect(page.getByTestId('seat-numbers')).toHaveText(new RegExp(`Used\\s*${used}\\s*Free\\s*${free}\\s*Total\\s*5`));
}

async function give(page: Page, names: string[]) {
  for (const name of names) {
    await page.getByTestId('picker').getByLabel(name, { exact: true }).check();
  }
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page.getByRole('status')).toHaveText('Seats given.');
}

async function recall(page: Page, name: string) {
  await page.getByTestId('holders').getByRole('row').filter({ hasText: name }).getByRole('button', { name: 'Recall' }).click();
  await expect(page.getByRole('status')).toHaveText('Seats recalled: they are free again.');
}

test('the administrator gives seats, recalls one and gives it to another', async ({ page }) => {
  await signInAsAdmin(page);
  for (const name of ['seat-a', 'seat-b', 'seat-c', 'seat-d', 'seat-e']) {
    await createUser(page, name, 'seat-password-1', 'User');
  }
  await openProduct(page);
  await seatNumbers(page, 0, 5);
  await give(page, ['seat-a', 'seat-b', 'seat-c']);
  await seatNumbers(page, 3, 2);
  await expect(page.getByTestId('holders')).toContainText('seat-b');
  await page.screenshot({ path: 'test-results/product.png', fullPage: true });
  await recall(page, 'seat-a');
  await seatNumbers(page, 2, 3);
  await give(page, ['seat-d']);
  await seatNumbers(page, 3, 2);
});

test('a License manager does the same; a User cannot reach the page', async ({ browser }) => {
  const admin = await (await browser.newContext()).newPage();
  await signInAsAdmin(admin);
  await createUser(admin, 'seat-manager', 'seat-password-1', 'License manager');

  const page = await (await browser.newContext()).newPage();
  await signIn(page, 'seat-manager', 'seat-password-1');
  await openProduct(page);
  await recall(page, 'seat-b');
  await seatNumbers(page, 2, 3);
  await page.getByLabel('Search users by name, tenant or role').fill('seat-e');
  await page.getByRole('button', { name: 'Find' }).click();
  await expect(page.getByTestId('picker').getByRole('listitem')).toHaveCount(1);
  await give(page, ['seat-e']);
  await seatNumbers(page, 3, 2);

  const user = await (await browser.newContext()).newPage();
  await signIn(user, 'seat-c', 'seat-password-1');
  // A User sees their own seat on their start page.
  await expect(user.getByTestId('my-licenses')).toContainText('CRM Sales');
  const url = new URL(page.url());
  const response = await user.goto(url.pathname);
  expect(response?.status()).toBe(403);
});

test('Settings > Users: a License manager gives a seat to one user and recalls it', async ({ page }) => {
  await signIn(page, 'seat-manager', 'seat-password-1');
  await open(page, '/settings/users');
  // The list, without the administrators' user management.
  await expect(page.getByRole('heading', { name: 'New user' })).toHaveCount(0);
  await expect(page.getByRole('link', { name: 'Upload licenses' })).toHaveCount(0);
  await page.getByLabel('Search users by name or tenant').fill('seat-a');
  await page.getByRole('button', { name: 'Find' }).click();
  await expect(page.getByTestId('users').getByRole('row')).toHaveCount(2);
  await page.getByLabel('Give a seat to seat-a').selectOption({ label: 'CRM Sales' });
  await page.getByRole('button', { name: 'Give' }).click();
  await expect(page.getByRole('status')).toHaveText('Seats given.');
  const row = page.getByTestId('users').getByRole('row').filter({ hasText: 'seat-a' });
  await expect(row).toContainText('CRM Sales');
  await page.screenshot({ path: 'test-results/users-seats.png', fullPage: true });
  await row.getByRole('button', { name: 'Recall CRM Sales (seat-a)' }).click();
  await expect(page.getByRole('status')).toHaveText('Seats recalled: they are free again.');
  await expect(page.getByTestId('users').getByRole('row').filter({ hasText: 'seat-c' })).toContainText('CRM Sales');
});

test('Settings > Users offers Request and Upload licenses to the administrator', async ({ page }) => {
  await signInAsAdmin(page);
  await open(page, '/settings/users');
  await page.getByRole('link', { name: 'Upload licenses' }).click();
  await expect(page.getByLabel('License package (.lcs)')).toBeVisible();
  await open(page, '/settings/users');
  await page.getByRole('link', { name: 'Request licenses' }).click();
  await expect(page.getByLabel('Company id')).toBeVisible();
});
