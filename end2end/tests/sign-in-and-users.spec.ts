import { ADMIN_PASSWORD, createUser, expect, newPage, open, row, shot, signIn, signInAsAdmin, test } from './helpers';

// Form spec: runs with JavaScript on (project js) and off (project no-js).

test('the administrator signs in and sees the installation id in Settings > Licenses', async ({ page }) => {
  await signInAsAdmin(page);
  await expect(page.getByRole('heading', { name: 'Licenses', level: 1 })).toBeVisible();
  // The installation id, among the facts above the list (whose Agent column shows ids too).
  await expect(page.getByRole('term').filter({ hasText: /^Installation id$/ })).toBeVisible();
  await expect(
    page.getByRole('definition').getByText(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
  ).toBeVisible();
  // The tenants, the Default one marked.
  await expect(page.getByRole('listitem').filter({ hasText: /^Default default ·/ })).toBeVisible();
  await shot(page, 'settings-licenses');
});

test('a User made by the administrator has no Settings and gets the 403 page', async ({ browser, tag }) => {
  const name = `uma-${tag}`;
  const adminPage = await newPage(browser);
  await signInAsAdmin(adminPage);
  await createUser(adminPage, name, 'uma-password-1', 'User');
  await expect(row(adminPage, name).getByRole('button', { name: 'Disable' })).toBeVisible();
  await shot(adminPage, 'settings-users');
  // The administrator's own row offers no way to lock themselves out.
  await open(adminPage, '/settings/users?q=admin');
  const own = row(adminPage, 'admin');
  await expect(own).toBeVisible();
  await expect(own.getByRole('button', { name: 'Disable' })).toHaveCount(0);
  await expect(own.getByRole('button', { name: 'Change role' })).toHaveCount(0);

  const page = await newPage(browser);
  await signIn(page, name, 'uma-password-1');
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByText(`You are signed in as ${name}.`)).toBeVisible();
  await expect(page.getByRole('link', { name: 'Settings' })).toHaveCount(0);

  const response = await page.goto('/settings/licenses');
  expect(response?.status()).toBe(403);
  await expect(page.getByRole('heading', { name: 'You do not have access to this page' })).toBeVisible();
  await shot(page, 'forbidden');

  await page.waitForLoadState('networkidle');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
});

test('a wrong password is told where it happened, and the right one then signs in', async ({ page, seed, tag }) => {
  const name = `wrong-${tag}`;
  await seed.user(name, 'right-password-1', 'license_manager');
  await signIn(page, name, 'not-the-password');
  await expect(page.getByRole('alert')).toHaveText('Wrong user name or password.');
  await expect(page).toHaveURL(/\/login/);
  await shot(page, 'login-error');

  await page.getByLabel('User name').fill(name);
  await page.getByLabel('Password').fill('right-password-1');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/settings\/licenses$/);
  await expect(page.getByRole('heading', { name: 'Licenses', level: 1 })).toBeVisible();
});

test('an anonymous visitor to a settings page signs in and comes back to it', async ({ page }) => {
  await open(page, '/settings/users');
  await expect(page).toHaveURL(/\/login\?next=/);
  await page.getByLabel('User name').fill('admin');
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/settings\/users$/);
  await expect(page.getByRole('heading', { name: 'Users', level: 1 })).toBeVisible();
});

test('a user changes their own password on Your account, giving the current one', async ({ browser, page, seed, tag }) => {
  const name = `acct-${tag}`;
  await seed.user(name, 'first-password-1', 'user');
  await signIn(page, name, 'first-password-1');
  await expect(page).toHaveURL(/\/$/);
  // Their name at the top opens their account.
  await page.getByRole('link', { name, exact: true }).click();
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.getByRole('heading', { name: 'Your account', level: 1 })).toBeVisible();
  await page.waitForLoadState('networkidle');
  const change = async (current: string, next: string, again: string) => {
    await page.getByLabel('Current password').fill(current);
    await page.getByLabel('New password', { exact: true }).fill(next);
    await page.getByLabel('New password again').fill(again);
    await page.getByRole('button', { name: 'Change password' }).click();
  };
  // A wrong current password is told where it happened, and changes nothing.
  await change('not-the-password', 'second-password-2', 'second-password-2');
  await expect(page.getByRole('alert')).toHaveText('Current password: is not correct');
  await shot(page, 'account-error');
  await change('first-password-1', 'second-password-2', 'second-password-2');
  await expect(page.getByRole('status')).toHaveText('Your password is changed. Your other sessions have ended.');
  await shot(page, 'account');

  // Only the new password signs in now.
  const other = await newPage(browser);
  await signIn(other, name, 'first-password-1');
  await expect(other.getByRole('alert')).toHaveText('Wrong user name or password.');
  await signIn(other, name, 'second-password-2');
  await expect(other).toHaveURL(/\/$/);
});
