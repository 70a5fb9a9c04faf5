import { expect, type Page } from '@playwright/test';

export const ADMIN_PASSWORD = 'admin-password-1';

/** Opens a page and waits until the WASM client has hydrated it. */
export async function open(page: Page, path: string) {
  await page.goto(path);
  await page.waitForLoadState('networkidle');
}

export async function signIn(page: Page, name: string, password: string) {
  await open(page, '/login');
  await page.getByLabel('User name').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

export async function signInAsAdmin(page: Page) {
  await signIn(page, 'admin', ADMIN_PASSWORD);
  await expect(page).toHaveURL(/\/settings\/licenses$/);
}

export async function createUser(page: Page, name: string, password: string, role: string) {
  await open(page, '/settings/users');
  const form = page.locator('section.card');
  await form.getByLabel('User name').fill(name);
  await form.getByLabel('Password').fill(password);
  await form.getByLabel('Role').selectOption({ label: role });
  await form.getByRole('button', { name: 'Create user' }).click();
  await expect(page.getByRole('status')).toHaveText(`User ${name} created.`);
  await expect(page.getByRole('row').filter({ hasText: name })).toBeVisible();
}
