import { expect, issue, newPage, open, requestLicenses, shot, signIn, signInAsAdmin, tempDir, tenantId, test } from './helpers';

// Form spec: runs with JavaScript on (project js) and off (project no-js). What it installs is
// named after the test's tag, and the lists are searched for it.

test('request, issue with tessera-vendor, upload, preview, confirm, and find the licenses', async ({ page, tag }) => {
  const dir = tempDir();
  const [platform, agent, crm] = [`AI Server ${tag}`, `AI Server agent ${tag}`, `CRM Sales ${tag}`];
  await signInAsAdmin(page);
  const request = await requestLicenses(page, dir);
  // Where to send it: the vendor's licensing address (a mailto: link with the subject; the
  // request is too long for the link, so the page says to attach the file) and their portal.
  // The request goes in the body when it fits the link (1,500 characters), else the page says to
  // attach the file.
  const mail = page.getByRole('link', { name: 'E-mail it to licensing@vendor.example' });
  await expect(mail).toHaveAttribute('href', /^mailto:licensing@vendor\.example\?subject=License%20request%20tessera-[0-9a-f]{8}-\d{4}-\d{2}-\d{2}\.tlr&body=/);
  const text = await page.getByLabel('The same request, as text to copy').inputValue();
  const attach = page.getByText(/attach the downloaded file tessera-[0-9a-f]{8}-[\d-]+\.tlr to the message/);
  if (text.length > 1500) {
    await expect(attach).toBeVisible();
    await expect(mail).not.toHaveAttribute('href', /BEGIN%20TESSERA/);
  } else {
    await expect(attach).toHaveCount(0);
    await expect(mail).toHaveAttribute('href', /BEGIN%20TESSERA%20LICENSE%20REQUEST/);
  }
  await expect(page.getByRole('link', { name: "Open the vendor's portal" })).toHaveAttribute('href', 'https://portal.vendor.example/licenses');
  await shot(page, 'request');
  const pkg = issue(dir, request, [
    // Named for Default: with more tenants than one, an unnamed platform license waits for an assignment.
    { type: 'platform', product: 'ai-server', product_name: platform, mode: 'subscription', days: 365, tenant: tenantId(request, 'Default') },
    { type: 'agent', product: 'ai-server', product_name: agent, mode: 'subscription', days: 365, binding: 'floating', count: 10 },
    { type: 'personal', product: `crm-${tag}`, product_name: crm, mode: 'buyout', permanent: true, seats: 5 },
  ]);

  await open(page, '/settings/licenses');
  await expect(page.getByTestId('vendor-contact')).toHaveText('licensing@vendor.example https://portal.vendor.example/licenses');
  // The installation's lease-signing key: its id, and its public key in PEM behind a disclosure.
  const leaseKey = page.getByTestId('lease-key');
  await expect(leaseKey.locator('code')).toHaveText(/^[0-9a-f]{16}$/);
  await leaseKey.getByText('Public key (PEM)').click();
  await expect(leaseKey.locator('pre')).toContainText('-----BEGIN PUBLIC KEY-----');
  await shot(page, 'licenses-lease-key');
  await page.getByRole('link', { name: 'Upload license package' }).click();
  await page.getByLabel('License package (.lcs)').setInputFiles(pkg);
  await page.getByRole('button', { name: 'Check the package' }).click();
  await expect(page.getByRole('heading', { name: 'Preview of the package' })).toBeVisible();
  const summary = page.getByRole('listitem');
  await expect(summary.filter({ hasText: platform })).toHaveText(/extends tenant Default to \w+ \d+, \d{4}/);
  await expect(summary.filter({ hasText: agent })).toHaveText(/adds 10 floating agent licenses/);
  await expect(summary.filter({ hasText: crm })).toHaveText(/adds 5 personal seats/);
  await shot(page, 'preview');
  // Nothing is installed before confirming.
  await page.waitForLoadState('networkidle');
  await page.getByRole('button', { name: 'Confirm' }).click();

  await expect(page).toHaveURL(/\/settings\/licenses\?installed=12/);
  await expect(page.getByRole('status')).toContainText('12 certificates installed.');
  await expect(page.getByRole('listitem').filter({ hasText: /^Default default · platform licensed until/ })).toBeVisible();
  await open(page, `/settings/licenses?q=${tag}`);
  const table = page.getByRole('table');
  await expect(table.getByRole('row')).toHaveCount(13);
  await shot(page, 'licenses-list');

  // Search.
  await open(page, '/settings/licenses');
  await page.getByLabel('Search').fill(crm);
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page).toHaveURL(/q=CRM/);
  await expect(table.getByRole('row')).toHaveCount(2);
  await expect(table).toContainText(crm);

  // Filter by status and type, state in the URL.
  await open(page, '/settings/licenses');
  await page.getByLabel('Search').fill(tag);
  await page.getByLabel('Status').selectOption({ label: 'Activated' });
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page).toHaveURL(/status=activated/);
  await expect(table.getByRole('row')).toHaveCount(2);
  await expect(table).toContainText(platform);
  await open(page, `/settings/licenses?type=agent&q=${tag}`);
  await expect(table.getByRole('row')).toHaveCount(11);

  // Sort by product name, both ways, in this test's licenses alone (the search narrows the list,
  // and the sort keeps it). The names sort as "AI Server agent t-…" (10 of them) < "AI Server t-…"
  // < "CRM Sales t-…": the tag starts with "t", after "agent".
  await open(page, `/settings/licenses?q=${tag}`);
  await expect(table.getByRole('row')).toHaveCount(13);
  await page.getByRole('link', { name: 'Product' }).click();
  await expect(page).toHaveURL(/sort=product&dir=asc/);
  await expect(page).toHaveURL(new RegExp(`q=${tag}`));
  const rows = table.getByRole('row');
  await expect(rows).toHaveCount(13);
  await expect(rows.nth(1)).toContainText(agent);
  await expect(rows.nth(11)).toContainText(platform);
  await expect(rows.nth(12)).toContainText(crm);
  await page.getByRole('link', { name: /Product/ }).click();
  await expect(page).toHaveURL(/sort=product&dir=desc/);
  await expect(page).toHaveURL(new RegExp(`q=${tag}`));
  await expect(rows).toHaveCount(13);
  await expect(rows.nth(1)).toContainText(crm);
  await expect(rows.nth(2)).toContainText(platform);
  await expect(rows.nth(12)).toContainText(agent);

  // The same package again changes nothing.
  await open(page, '/settings/licenses/upload');
  await page.getByLabel('License package (.lcs)').setInputFiles(pkg);
  await page.getByRole('button', { name: 'Check the package' }).click();
  await expect(page.getByText('12 certificates, 0 new.')).toBeVisible();
});

test('a License manager sees the list but no upload or delete', async ({ browser, seed, tag }) => {
  const name = `lena-${tag}`;
  await seed.user(name, 'lena-password-1', 'license_manager');
  await seed.install([
    { type: 'server', product: 'ai-server', product_name: `Seen ${tag}`, mode: 'subscription', days: 30, feature: `seen-${tag}` },
  ]);

  const page = await newPage(browser);
  await signIn(page, name, 'lena-password-1');
  await expect(page).toHaveURL(/\/settings\/licenses$/);
  await open(page, `/settings/licenses?q=${tag}`);
  await expect(page.getByRole('table').getByRole('row')).toHaveCount(2);
  await expect(page.getByRole('row', { name: new RegExp(`Seen ${tag}`) })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Upload license package' })).toHaveCount(0);
  await expect(page.getByRole('link', { name: 'Request licenses' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Delete all licenses' })).toHaveCount(0);
  const response = await page.goto('/settings/licenses/upload');
  expect(response?.status()).toBe(403);
});

test('a bad package is refused with each block named', async ({ page }) => {
  await signInAsAdmin(page);
  await open(page, '/settings/licenses/upload');
  await page.getByLabel('License package (.lcs)').setInputFiles({
    name: 'broken.lcs',
    mimeType: 'text/plain',
    buffer: Buffer.from('-----BEGIN TESSERA CERTIFICATE-----\n%%%\n-----END TESSERA CERTIFICATE-----\n'),
  });
  const preview = page.waitForResponse((r) => r.url().includes('/settings/licenses/upload/'));
  await page.getByRole('button', { name: 'Check the package' }).click();
  // The refusal's page is served with the refusal's status.
  expect((await preview).status()).toBe(422);
  const refusal = page.getByRole('alert');
  await expect(refusal).toContainText('the package was refused, and nothing changed.');
  await expect(refusal.getByRole('listitem').first()).toContainText('Block 1');
  await expect(refusal.getByRole('listitem').first()).toContainText('malformed');
  await shot(page, 'refused');
});

test('the request page names the vendor in Russian too', async ({ browser, seed, tag }) => {
  // An administrator of its own: the language is remembered per user.
  const name = `request-ru-${tag}`;
  await seed.user(name, 'request-password-1', 'administrator');
  const page = await newPage(browser);
  await signIn(page, name, 'request-password-1');
  await page.getByRole('button', { name: 'Русский' }).click();
  await expect(page.getByRole('heading', { name: 'Лицензии', level: 1 })).toBeVisible();
  await expect(page.getByTestId('vendor-contact')).toContainText('licensing@vendor.example');
  await open(page, '/settings/licenses/request?company_id=acme&target_version=8.1');
  const mail = page.getByRole('link', { name: 'Отправить письмом на licensing@vendor.example' });
  await expect(mail).toHaveAttribute('href', /subject=%D0%97%D0%B0%D0%BF%D1%80%D0%BE%D1%81/);
  const text = await page.getByLabel('Тот же запрос текстом для копирования').inputValue();
  if (text.length > 1500) {
    await expect(page.getByText(/приложите к письму скачанный файл/)).toBeVisible();
  } else {
    await expect(mail).toHaveAttribute('href', /%D0%97%D0%B4%D1%80%D0%B0%D0%B2%D1%81%D1%82%D0%B2%D1%83%D0%B9%D1%82%D0%B5.*BEGIN%20TESSERA/);
  }
  await shot(page, 'request-ru');
});
