import {
  ADMIN_PASSWORD,
  DAY,
  expect,
  issue,
  moveClock,
  newPage,
  open,
  requestLicenses,
  Seed,
  shot,
  signIn,
  signInAsAdmin,
  tempDir,
  tenantId,
  test,
  uploadAndConfirm,
} from './helpers';

// Clock spec (project clock, a server of its own): it moves the server's clock a year forward.
// The second test goes on from the first's clock and user.
test.describe.configure({ mode: 'serial' });

const user = { name: '', password: 'expiry-password-1' };

test('10 days before expiry the bell and the banner show what expires and when; each administrator reads their own', async ({ page, browser, seed, tag, baseURL }) => {
  user.name = `expiry-${tag}`;
  await seed.user(user.name, user.password, 'user');
  // The Default tenant, licensed for 365 days from now: 355 days on, it expires in 10 days.
  await seed.install((request) => [
    { type: 'platform', product: 'ai-server', product_name: `AI Server ${tag}`, mode: 'subscription', days: 365, tenant: tenantId(request, 'Default') },
  ]);
  await moveClock(355 * DAY);
  // Sessions last hours: after moving the clock by days, sign in again.
  await signInAsAdmin(page);
  const banner = page.getByRole('region', { name: 'Licenses expiring soon' });
  await expect(banner).toContainText(/Platform license of tenant Default expires on \w+ \d+, \d{4}/);
  await shot(page, 'expiry-banner');
  await page.getByRole('link', { name: /^Notifications: [1-9]\d* unread$/ }).click();
  await expect(page.getByRole('heading', { name: 'Notifications', level: 1 })).toBeVisible();
  await expect(
    page.getByRole('listitem').filter({ hasText: /Platform license of tenant Default/ }).filter({ hasText: 'reminder 15 days before' }),
  ).toBeVisible();
  await shot(page, 'notifications');

  // Each administrator reads their own: marking all read quiets this one's bell, not another's.
  // Made now: the fixture's own session ended when the clock moved by days.
  const other = `expiry-admin-${tag}`;
  const fresh = await Seed.as(baseURL!, 'admin', ADMIN_PASSWORD);
  await fresh.user(other, 'expiry-admin-password-1', 'administrator');
  await fresh.dispose();
  const unread = await page.getByTestId('bell-count').innerText();
  await page.getByRole('button', { name: 'Mark all as read' }).click();
  await expect(page.getByTestId('bell-count')).toHaveCount(0);
  const theirs = await newPage(browser);
  await signIn(theirs, other, 'expiry-admin-password-1');
  await expect(theirs.getByTestId('bell-count')).toHaveText(unread);
  await theirs.getByTestId('bell-count').click();
  await theirs.getByRole('button', { name: 'Mark as read' }).first().click();
  // One fewer: with none left the bell shows no count at all.
  const left = Number(unread) - 1;
  if (left === 0) {
    await expect(theirs.getByTestId('bell-count')).toHaveCount(0);
  } else {
    await expect(theirs.getByTestId('bell-count')).toHaveText(String(left));
  }
  await expect(theirs.getByRole('button', { name: 'Mark as read' })).toHaveCount(left);
  await shot(theirs, 'notifications-second-admin');
  await open(page, '/settings/notifications');
  await expect(page.getByTestId('bell-count')).toHaveCount(0);
});

test('past expiry a User sees the renewal page; the administrator renews and it lifts', async ({ browser }) => {
  const page = await newPage(browser);
  await moveClock(11 * DAY);
  await signIn(page, user.name, user.password);
  await expect(page.getByRole('heading', { name: 'The platform license has expired' })).toBeVisible();
  await expect(page.getByText('Ask your administrator to upload a new license.')).toBeVisible();
  await shot(page, 'renewal');

  // The administrator, headed for Settings > Users, lands on Settings > Licenses.
  const admin = await newPage(browser);
  await open(admin, '/login?next=%2Fsettings%2Fusers');
  await admin.getByLabel('User name').fill('admin');
  await admin.getByLabel('Password').fill(ADMIN_PASSWORD);
  await admin.getByRole('button', { name: 'Sign in' }).click();
  await expect(admin).toHaveURL(/\/settings\/licenses$/);
  // Other pages show the renewal page.
  await open(admin, '/settings/users');
  await expect(admin.getByRole('heading', { name: 'The platform license has expired' })).toBeVisible();

  // Renew: request, the vendor issues a platform license for Default, upload, confirm.
  const dir = tempDir();
  const request = await requestLicenses(admin, dir);
  const pkg = issue(dir, request, [
    { type: 'platform', product: 'ai-server', product_name: 'AI Server renewed', mode: 'subscription', days: 365, tenant: tenantId(request, 'Default') },
  ]);
  await uploadAndConfirm(admin, pkg);
  await open(admin, '/settings/users');
  await expect(admin.getByRole('heading', { name: 'Users', level: 1 })).toBeVisible();

  // The User's pages are back, without a restart.
  await open(page, '/');
  await expect(page.getByText(`You are signed in as ${user.name}.`)).toBeVisible();
});
