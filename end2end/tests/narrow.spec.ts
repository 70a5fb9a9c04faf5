import { expect, newPage, open, shot, signIn, test } from './helpers';

// Every page at 360 px (a phone) and 640 px (a laptop's screen at 200% zoom), in English and
// Russian: the page is never wider than the screen, the header's buttons stay on it, and a wide
// table scrolls within itself.

const pages = [
  '/settings/licenses',
  '/settings/licenses/request?company_id=acme&target_version=8.1',
  '/settings/licenses/upload',
  '/settings/tenants',
  '/settings/agents',
  '/settings/agent-api',
  '/settings/users',
  '/settings/usage',
  '/settings/audit',
  '/settings/notifications',
  '/account',
];

test('every page fits a narrow screen, in English and Russian', async ({ browser, seed, tag }) => {
  test.setTimeout(240_000);
  // An administrator of its own: the language is remembered per user. Something in each list.
  const name = `narrow-${tag}`;
  await seed.user(name, 'narrow-password-1', 'administrator');
  await seed.install([
    { type: 'agent', product: 'ai-server', product_name: `AI Server agent with a long name ${tag}`, mode: 'subscription', days: 365, binding: 'floating', count: 2 },
  ]);
  const page = await newPage(browser);
  await signIn(page, name, 'narrow-password-1');
  for (const language of ['English', 'Русский']) {
    if (language === 'Русский') {
      await page.getByRole('button', { name: 'Русский' }).click();
      await expect(page.getByRole('button', { name: 'English' })).toBeVisible();
    }
    for (const width of [360, 640]) {
      await page.setViewportSize({ width, height: 740 });
      for (const path of pages) {
        await open(page, path);
        await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
        const wide = await page.evaluate(() => document.documentElement.scrollWidth);
        expect(wide, `${path} at ${width} px in ${language}`).toBeLessThanOrEqual(width);
        // The header's last control (the language switch and sign-out) is on the screen.
        const signOut = page.getByRole('button', { name: language === 'English' ? 'Sign out' : 'Выйти' });
        const box = await signOut.boundingBox();
        expect(box, `${path}: the sign-out button is shown`).not.toBeNull();
        expect(box!.x + box!.width, `${path} at ${width} px in ${language}`).toBeLessThanOrEqual(width);
        if (width === 360) {
          const slug = path.split('?')[0].replace(/^\//, '').replaceAll('/', '-');
          await shot(page, `narrow-${slug}-${language === 'English' ? 'en' : 'ru'}`);
        }
      }
    }
  }
  await page.getByRole('button', { name: 'English' }).click();
  await expect(page.getByRole('button', { name: 'Русский' })).toBeVisible();
});
