import { test as base, expect, request as playwrightRequest, type APIRequestContext, type Browser, type Locator, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export { expect };

const vendorTool = join(__dirname, '..', '..', 'target', 'release', 'tessera-vendor');

export const ADMIN_PASSWORD = 'admin-password-1';
export const DAY = 86_400_000;

/**
 * A name no other test uses: the specs share a server, and the form specs run twice on it (with
 * and without JavaScript). Lower case, so that it is also its own search term.
 */
export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/** The vendor key that the server of the running test trusts (serve.sh makes one per port). */
function vendorKey(): string {
  const port = new URL(base.info().project.use.baseURL!).port;
  return join(__dirname, '..', '.data', port, 'vendor.key');
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
}

/** A page in a context of its own (its own cookies), with the project's options. */
export async function newPage(browser: Browser): Promise<Page> {
  return (await browser.newContext()).newPage();
}

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

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The table row of a user, agent or license: the one whose first cell is `name`. */
export function row(scope: Page | Locator, name: string): Locator {
  return scope.getByRole('row', { name: new RegExp(`^${escapeRegExp(name)}(\\s|$)`) });
}

/**
 * A tenant's card on Settings > Tenants. The card is a <section> with the tenant's name as its
 * (level 2) heading but no accessible name, so it is not a region: until it is labelled by its
 * heading (then the first half alone finds it), the fallback finds the section holding that
 * heading but not the page's own (level 1) heading, i.e. the card and not the settings section
 * around all the cards.
 */
export function tenantCard(page: Page, name: string): Locator {
  const heading = page.getByRole('heading', { name, exact: true, level: 2 });
  return page
    .getByRole('region', { name, exact: true })
    .or(page.locator('section').filter({ has: heading }).filter({ hasNot: page.getByRole('heading', { level: 1 }) }));
}

/** Creates a user through the form of Settings > Users, and finds them in the list. */
export async function createUser(page: Page, name: string, password: string, role: string) {
  await open(page, '/settings/users');
  await page.getByLabel('User name', { exact: true }).fill(name);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel('Role', { exact: true }).selectOption({ label: role });
  await page.getByRole('button', { name: 'Create user' }).click();
  await expect(page.getByRole('status')).toHaveText(`User ${name} created.`);
  await open(page, `/settings/users?q=${encodeURIComponent(name)}`);
  await expect(row(page, name)).toBeVisible();
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
  const out = join(mkdtempSync(join(dir, 'package-')), 'package.lcs');
  execFileSync(vendorTool, ['issue', '--key', vendorKey(), '--request', request, '--spec', specPath, '--out', out]);
  return out;
}

/** The id of the tenant named `name`, read from a license request file. */
export function tenantId(requestPath: string, name: string): string {
  const text = readFileSync(requestPath, 'utf8');
  const b64 = text.split('-----BEGIN TESSERA LICENSE REQUEST-----')[1].split('-----END')[0].replace(/\s+/g, '');
  const request = JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
  return request.tenants.find((t: { name: string }) => t.name === name).id;
}

/** The ids of the certificates in a package, in order (each block's envelope carries the payload). */
export function certificateIds(pkg: string): string[] {
  return readFileSync(pkg, 'utf8')
    .split('-----BEGIN TESSERA CERTIFICATE-----')
    .slice(1)
    .map((block) => {
      const envelope = JSON.parse(Buffer.from(block.split('-----END')[0].replace(/\s+/g, ''), 'base64').toString('utf8'));
      return JSON.parse(Buffer.from(envelope.payload, 'base64url').toString('utf8')).id;
    });
}

/** Uploads a package and confirms it, through the pages. */
export async function uploadAndConfirm(page: Page, pkg: string) {
  await open(page, '/settings/licenses/upload');
  await page.getByLabel('License package (.lcs)').setInputFiles(pkg);
  await page.getByRole('button', { name: 'Check the package' }).click();
  await expect(page.getByRole('heading', { name: 'Preview of the package' })).toBeVisible();
  await page.waitForLoadState('networkidle');
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect(page).toHaveURL(/\/settings\/licenses\?installed=/);
}

export type Role = 'administrator' | 'license_manager' | 'user';

/**
 * What a test needs on the server before its pages are opened, made through the same server
 * functions the pages post to (the pages' own forms are what the tests are about).
 */
export class Seed {
  private constructor(
    readonly api: APIRequestContext,
    readonly dir: string,
  ) {}

  /** Signs in as `name` on the server of the running test. */
  static async as(baseURL: string, name: string, password: string): Promise<Seed> {
    const api = await playwrightRequest.newContext({ baseURL });
    const seed = new Seed(api, tempDir());
    await seed.call('login', { user_name: name, password });
    return seed;
  }

  async dispose() {
    await this.api.dispose();
  }

  /** Calls a server function; answers its JSON. */
  async call(endpoint: string, form: Record<string, string>): Promise<any> {
    const response = await this.api.post(`/api/${endpoint}`, { form });
    if (!response.ok()) {
      throw new Error(`${endpoint}: ${response.status()} ${await response.text()}`);
    }
    return response.json();
  }

  async defaultTenantId(): Promise<string> {
    const listing = await this.call('tenants/list', {});
    return listing.tenants.find((t: { is_default: boolean }) => t.is_default).id;
  }

  async tenant(name: string): Promise<string> {
    return (await this.call('tenants/create', { name })).id;
  }

  /** Creates a user (in the Default tenant unless told); answers their id. */
  async user(name: string, password: string, role: Role, tenant?: string): Promise<string> {
    const tenant_id = tenant ?? (await this.defaultTenantId());
    return (await this.call('users/create', { user_name: name, password, role, tenant_id })).id;
  }

  /** A license request from the server, saved as a .tlr; answers its path. */
  async request(): Promise<string> {
    const file = await this.call('licenses/request', { company_id: 'acme', target_version: '8.1' });
    const path = join(mkdtempSync(join(this.dir, 'request-')), file.file_name);
    writeFileSync(path, file.text);
    return path;
  }

  /** Uploads a package; answers the id of its preview. */
  async upload(pkg: string): Promise<string> {
    const response = await this.api.post('/licenses/upload', {
      multipart: { package: { name: 'package.lcs', mimeType: 'text/plain', buffer: readFileSync(pkg) } },
      maxRedirects: 0,
    });
    const location = response.headers()['location'];
    if (!location) {
      throw new Error(`upload: ${response.status()} ${await response.text()}`);
    }
    return location.split('/').pop()!;
  }

  /**
   * Requests licenses, has the vendor issue `spec` for the request (a function of the request's
   * path when the spec names a tenant: see tenantId), uploads and confirms them. Answers the
   * package's path.
   */
  async install(spec: object[] | ((request: string) => object[])): Promise<string> {
    const request = await this.request();
    const pkg = issue(this.dir, request, typeof spec === 'function' ? spec(request) : spec);
    const confirmed = await this.call('licenses/confirm', { id: await this.upload(pkg) });
    expect(confirmed.installed).toBe(certificateIds(pkg).length);
    return pkg;
  }

  /** Gives seats of `product` to the users. */
  async giveSeats(product: string, userIds: string[]) {
    const form: Record<string, string> = { product };
    userIds.forEach((id, i) => (form[`user_ids[${i}]`] = id));
    await this.call('seats/apply', form);
  }
}

/**
 * Moves the server's clock by `ms` (never back) and runs the sweeper; answers the server's time
 * after. Only the clock server has the route (a build with the `test-clock` feature, started with
 * TESSERA_TEST_CLOCK=1), and only an administrator may call it: each move signs in afresh, since
 * moving the clock by days ends every session.
 */
export async function moveClock(ms: number): Promise<number> {
  const admin = await Seed.as(base.info().project.use.baseURL!, 'admin', ADMIN_PASSWORD);
  try {
    const res = await admin.api.post('/__test/clock', { data: { advance_ms: ms } });
    if (!res.ok()) {
      throw new Error(`/__test/clock: ${res.status()} ${await res.text()}`);
    }
    return (await res.json()).now_ms;
  } finally {
    await admin.dispose();
  }
}

/** The server's time now (moving the clock by nothing). */
export async function serverNow(): Promise<number> {
  return moveClock(0);
}

type Fixtures = {
  /** A name unique to this test's run, to name what it makes with. */
  tag: string;
  /** The administrator, through the server functions. */
  seed: Seed;
};

export const test = base.extend<Fixtures>({
  tag: async ({}, use) => {
    await use(unique('t'));
  },
  seed: async ({ baseURL }, use) => {
    const seed = await Seed.as(baseURL!, 'admin', ADMIN_PASSWORD);
    await use(seed);
    await seed.dispose();
  },
});

/** A screenshot for people to look at, one per project: test-results/<project>/<name>.png. */
export async function shot(page: Page, name: string) {
  await page.screenshot({ path: join('test-results', base.info().project.name, `${name}.png`), fullPage: true });
}
