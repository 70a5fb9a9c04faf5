import { expect, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const vendorTool = join(__dirname, '..', '..', 'target', 'release', 'tessera-vendor');
const vendorKey = join(__dirname, '..', '.data', 'vendor.key');

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

/** Requests licenses in the console and downloads the .tlr; answers its path. */
export async function requestLicenses(page: Page, dir: string): Promise<string> {
  await open(page, '/settings/licenses');
  await page.getByRole('link', { name: 'Request licenses' }).click();
  await page.getByLabel('Company id').fill('acme');
  await page.getByLabel('Target version').fill('8.1');
  await page.getByRole('button', { name: 'Make the request' }).click();
  await expect(page.getByRole('heading', { name: 'Your license request is ready' })).toBeVisible();
  await expect(page.getByLabel('The same request, as text to copy')).toHaveValue(/BEGIN TESSERA LICENSE REQUEST/);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: /^Download/ }).click(),
  ]);
  expect(download.suggestedFilename()).toMatch(/\.tlr$/);
  const path = join(dir, 'request.tlr');
  await download.saveAs(path);
  return path;
}

/** The vendor's side: issues a package for the request with tessera-vendor; answers its path. */
export function issue(dir: string, request: string, spec: object[]): string {
  const specPath = join(dir, 'spec.json');
  writeFileSync(specPath, JSON.stringify(spec));
  const out = join(dir, 'package.lcs');
  execFileSync(vendorTool, ['issue', '--key', vendorKey, '--request', request, '--spec', specPath, '--out', out]);
  return out;
}

/** Uploads a package and confirms it. */
export async function uploadAndConfirm(page: Page, pkg: string) {
  await open(page, '/settings/licenses/upload');
  await page.getByLabel('License package (.lcs)').setInputFiles(pkg);
  await page.getByRole('button', { name: 'Check the package' }).click();
  await expect(page.getByRole('heading', { name: 'Preview of the package' })).toBeVisible();
  await page.waitForLoadState('networkidle');
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect(page).toHaveURL(/\/settings\/licenses\?installed=/);
}
