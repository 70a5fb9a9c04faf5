import { expect, test } from '@playwright/test';
import { createUser, open, signIn, signInAsAdmin } from './helpers';

test('the administrator signs in and sees the installation id in Settings > Licenses', async ({ page }) => {
  await signInAsAdmin(page);
  await expect(page.getByRole('heading', { name: 'Licenses' })).toBeVisible();
  await expect(page.getByTestId('installation-id')).toHaveText(
    /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
  await expect(page.getByText('No licenses installed yet.')).toBeVisible();
  await expect(page.getByText('Default')).toBeVisible();
  await page.screenshot({ path: 'test-results/settings-licenses.png', fullPage: true });
});

test('a User made by the administrator has no Settings and gets the 403 page', async ({ browser }) => {
  const adminPage = await (await browser.newContext()).newPage();
  await signInAsAdmin(adminPage);
  await createUser(adminPage, 'uma', 'uma-password-1', 'User');
  await adminPage.screenshot({ path: 'test-results/settings-users.png', fullPage: true });
  // The administrator's own row offers no way to lock themselves out.
  const own = adminPage.locator('tr[data-user="admin"]');
  await expect(own.getByRole('button', { name: 'Disable' })).toHaveCount(0);
  await expect(own.getByRole('button', { name: 'Change role' })).toHaveCount(0);
  await expect(adminPage.locator('tr[data-user="uma"]').getByRole('button', { name: 'Disable' })).toBeVisible();

  const page = await (await browser.newContext()).newPage();
  await signIn(page, 'uma', 'uma-password-1');
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByText('You are signed in as uma.')).toBeVisible();
  await expect(page.getByRole('link', { name: 'Settings' })).toHaveCount(0);

  const response = await page.goto('/settings/licenses');
  expect(response?.status()).toBe(403);
  await expect(page.getByRole('heading', { name: 'You do not have access to this page' })).toBeVisible();
  await page.screenshot({ path: 'test-results/forbidden.png', fullPage: true });

  await page.waitForLoadState('networkidle');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
});

test('a wrong password is told where it happened', async ({ page }) => {
  await signIn(page, 'admin', 'not-the-password');
  await expect(page.getByRole('alert')).toHaveText('Wrong user name or password.');
  await expect(page).toHaveURL(/\/login/);
});

test('an anonymous visitor to a settings page signs in and comes back to it', async ({ page }) => {
  await open(page, '/settings/users');
  await expect(page).toHaveURL(/\/login\?next=/);
  await page.getByLabel('User name').fill('admin');
  await page.getByLabel('Password').fill('admin-password-1');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/settings\/users$/);
  await expect(page.getByRole('heading', { name: 'Users' })).toBeVisible();
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the login form signs in, and shows errors', async ({ page }) => {
    await page.goto('/login');
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert')).toHaveText('Wrong user name or password.');
    await page.screenshot({ path: 'test-results/login-error-no-js.png', fullPage: true });

    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password').fill('admin-password-1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page).toHaveURL(/\/settings\/licenses$/);
    await expect(page.getByTestId('installation-id')).toBeVisible();
  });

  test('an administrator creates a user', async ({ page }) => {
    await page.goto('/login');
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password').fill('admin-password-1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.goto('/settings/users');
    const form = page.locator('section.card');
    await form.getByLabel('User name').fill('nojs');
    await form.getByLabel('Password').fill('nojs-password-1');
    await form.getByRole('button', { name: 'Create user' }).click();
    await expect(page.getByRole('row').filter({ hasText: 'nojs' })).toBeVisible();
  });
});
