import { DAY, expect, issue, moveClock, open, serverNow, shot, signInAsAdmin, tenantCard, test } from './helpers';

// Clock spec (project clock, a server of its own): each test reads the server's clock, issues a
// license whose first valid day is some days on, and moves the clock to that day.

test('a license waits for its first valid day, then activates by itself', async ({ page, seed, tag }) => {
  const name = `Next year ${tag}`;
  const firstDay = new Date((await serverNow()) + 10 * DAY).toISOString().slice(0, 10);
  const pkg = issue(seed.dir, await seed.request(), [
    { type: 'server', product: 'ai-server', product_name: name, mode: 'subscription', days: 30, feature: `first-day-${tag}`, not_before: firstDay },
  ]);

  await signInAsAdmin(page);
  // This server names no vendor contact: the request page says how to name one.
  await open(page, '/settings/licenses/request?company_id=acme&target_version=8.1');
  await expect(page.getByTestId('send-to')).toContainText('No vendor contact is configured');
  await expect(page.getByTestId('send-to')).toContainText('TESSERA_VENDOR_EMAIL');
  await open(page, '/settings/licenses/upload');
  await page.getByLabel('License package (.lcs)').setInputFiles(pkg);
  await page.getByRole('button', { name: 'Check the package' }).click();
  await expect(page.getByRole('heading', { name: 'Preview of the package' })).toBeVisible();
  await expect(page.getByRole('listitem').filter({ hasText: name })).toContainText(
    new RegExp(`unlocks first-day-${tag} for all users from \\w+ \\d+, \\d{4}, the first day it is valid`),
  );
  await shot(page, 'preview-first-day');
  await page.waitForLoadState('networkidle');
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect(page).toHaveURL(/\/settings\/licenses\?installed=1/);

  await open(page, `/settings/licenses?status=unused&q=${tag}`);
  const row = page.getByRole('table').getByRole('row').filter({ hasText: name });
  await expect(row).toHaveCount(1);
  await expect(row).toContainText(/not before \w+ \d+, \d{4}/);
  await shot(page, 'licenses-not-before');

  // On that day the sweeper (run by the test clock's route) activates it.
  await moveClock(10 * DAY + 60_000);
  await signInAsAdmin(page);
  await open(page, `/settings/licenses?status=activated&q=${tag}`);
  await expect(page.getByRole('table').getByRole('row').filter({ hasText: name })).toHaveCount(1);
});

test('a platform license assigned before its first valid day waits for it', async ({ page, seed, tag }) => {
  const [tenant, name] = [`Renewals ${tag}`, `Acme Renewal ${tag}`];
  const firstDay = new Date((await serverNow()) + 5 * DAY).toISOString().slice(0, 10);
  // A tenant of its own: with several, an unnamed platform license awaits an assignment.
  await seed.tenant(tenant);
  await seed.install([
    { type: 'platform', product: 'ai-server', product_name: name, mode: 'subscription', days: 30, not_before: firstDay },
  ]);

  await signInAsAdmin(page);
  await open(page, '/settings/tenants');
  const card = tenantCard(page, tenant);
  await page.getByLabel('License', { exact: true }).selectOption({ label: `${name} · Platform · 30 days` });
  await page.getByLabel('Tenant', { exact: true }).selectOption({ label: tenant });
  await page.getByRole('button', { name: 'Assign', exact: true }).click();
  await expect(page.getByRole('status')).toHaveText(
    'License assigned: it cannot be activated yet, and activates by itself on its first valid day.',
  );
  // Its card says when the platform license activates, in the page's language.
  await expect(card.getByTestId('platform-until')).toHaveText(/^activates on \w+ \d+, \d{4}$/);
  await shot(page, 'tenants-scheduled');
  await page.getByRole('button', { name: 'Русский' }).click();
  await expect(card.getByTestId('platform-until')).toHaveText(/^вступит в силу \d+ [а-я]+ \d{4}$/);
  await shot(page, 'tenants-scheduled-ru');
  await page.getByRole('button', { name: 'English' }).click();
  await expect(page.getByRole('button', { name: 'Русский' })).toBeVisible();

  // On that day it licenses the tenant.
  await moveClock(5 * DAY + 60_000);
  await signInAsAdmin(page);
  await open(page, '/settings/tenants');
  await expect(card).toContainText(/Platform license\s*\w+ \d+, \d{4}/);
});
