import { expect, open, shot, signInAsAdmin, tenantCard, test } from './helpers';

// Project js (a spec of the main server): the pages' Content-Security-Policy admits the hydration
// script by its per-response nonce and the WASM client by 'wasm-unsafe-eval', and nothing else
// inline. The copy button (an island) must work under it, with no violation reported.

test('the copy island hydrates and works under the Content-Security-Policy', async ({ page, seed, tag }) => {
  const tenant = `Policy ${tag}`;
  await seed.tenant(tenant);

  // Every violation the browser reports, from the first script on.
  const violations: string[] = [];
  page.on('console', (msg) => {
    if (/Content[ -]Security[ -]Policy|Refused to (execute|load|compile|apply)/i.test(msg.text())) {
      violations.push(msg.text());
    }
  });
  // And every error the client reports: a page the server renders unlike the client's idea of it
  // fails hydration with a panic, logged here (the server's views are erased, the client's not).
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) {
      errors.push(msg.text());
    }
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });

  await signInAsAdmin(page);
  const response = await page.goto('/settings/tenants');
  expect(response).not.toBeNull();
  const headers = response!.headers();
  const csp = headers['content-security-policy'];
  expect(csp).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=_-]{22,}' 'wasm-unsafe-eval'/);
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain('unsafe-inline');
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['referrer-policy']).toBe('same-origin');
  expect(headers['cache-control']).toBe('no-store');
  const nonce = /'nonce-([^']+)'/.exec(csp)![1];
  await page.waitForLoadState('networkidle');

  // Every script of the page that runs carries this response's nonce (the DOM hides a nonce's
  // value from attributes once the document is parsed, so it is read from the `nonce` property).
  // leptos_i18n leaves one empty <script></script>, which browsers neither run nor check.
  const scripts = await page
    .locator('script')
    .evaluateAll((els) =>
      els
        .map((e) => e as HTMLScriptElement)
        .filter((e) => e.src !== '' || (e.textContent ?? '').trim() !== '')
        .map((e) => e.nonce),
    );
  expect(scripts.length).toBeGreaterThan(0);
  for (const found of scripts) {
    expect(found).toBe(nonce);
  }

  // The island answers once the WASM client has hydrated it, which the policy must allow.
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  const card = tenantCard(page, tenant);
  await card.getByRole('button', { name: 'Copy' }).click();
  await expect(card.getByRole('button', { name: 'Copied' })).toBeVisible();
  await shot(page, 'copy-under-csp');
  expect(violations).toEqual([]);
  expect(errors).toEqual([]);

  // A script slipped into the page without the nonce does not run.
  const ran = await page.evaluate(async () => {
    (window as unknown as { injected?: boolean }).injected = false;
    const s = document.createElement('script');
    s.textContent = 'window.injected = true;';
    document.body.appendChild(s);
    await new Promise((r) => setTimeout(r, 100));
    return (window as unknown as { injected?: boolean }).injected;
  });
  expect(ran).toBe(false);
});

test('the console cannot be framed by another page', async ({ page }) => {
  const response = await page.goto('/login');
  expect(response!.headers()['x-frame-options']).toBe('DENY');
  expect(response!.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
  await open(page, '/login');
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
});
