import { expect, newPage, open, shot, signIn, test } from './helpers';

test('switching to Russian is remembered for the user, and errors speak Russian', async ({ browser, seed, tag }) => {
  // An administrator of its own: the language is remembered per user.
  const name = `lang-${tag}`;
  await seed.user(name, 'lang-password-1', 'administrator');
  const page = await newPage(browser);
  await signIn(page, name, 'lang-password-1');
  await expect(page).toHaveURL(/\/settings\/licenses$/);
  await page.getByRole('button', { name: 'Русский' }).click();
  await expect(page.getByRole('heading', { name: 'Лицензии', level: 1 })).toBeVisible();
  await page.getByRole('button', { name: 'Выйти' }).click();
  await expect(page).toHaveURL(/\/login$/);

  // Another browser, with no cookie of ours: signing in brings Russian back.
  const elsewhere = await (await browser.newContext({ locale: 'en-US' })).newPage();
  await open(elsewhere, '/login');
  await expect(elsewhere.getByRole('heading', { name: 'Sign in to Tessera' })).toBeVisible();
  await elsewhere.getByLabel('User name').fill(name);
  await elsewhere.getByLabel('Password').fill('lang-password-1');
  await elsewhere.getByRole('button', { name: 'Sign in' }).click();
  await expect(elsewhere.getByRole('link', { name: 'Настройки' }).first()).toBeVisible();
  await expect(elsewhere.getByRole('heading', { name: 'Лицензии', level: 1 })).toBeVisible();
  await expect(elsewhere.getByRole('navigation', { name: 'breadcrumbs' })).toHaveText('Настройки > Лицензии');

  // An upload error, in Russian.
  await open(elsewhere, '/settings/licenses/upload');
  await elsewhere.getByLabel('Пакет лицензий (.lcs)').setInputFiles({
    name: 'not-a-package.lcs',
    mimeType: 'text/plain',
    buffer: Buffer.from('hello'),
  });
  await elsewhere.getByRole('button', { name: 'Проверить пакет' }).click();
  const refusal = elsewhere.getByRole('alert');
  await expect(refusal).toContainText('пакет отклонён, ничего не изменилось.');
  await expect(refusal).toContainText('В файле нет блока TESSERA CERTIFICATE');
  await shot(elsewhere, 'refused-ru');

  // The installation's lease key and a tenant's lease time, in Russian.
  await open(elsewhere, '/settings/licenses');
  await expect(elsewhere.getByText('Ключ подписи аренд')).toBeVisible();
  await expect(elsewhere.getByTestId('lease-key').locator('code')).toHaveText(/^[0-9a-f]{16}$/);
  await shot(elsewhere, 'licenses-ru');
  await open(elsewhere, '/settings/tenants');
  await expect(elsewhere.getByLabel('Время аренды').first()).toBeVisible();
  await shot(elsewhere, 'tenants-ru');

  // And back to English.
  await elsewhere.getByRole('button', { name: 'English' }).click();
  await expect(elsewhere.getByRole('button', { name: 'Русский' })).toBeVisible();
});

test('a new visitor whose browser asks for Russian gets the login page in Russian', async ({ browser }) => {
  // Playwright sends the context's locale as Accept-Language: ru-RU.
  const context = await browser.newContext({ locale: 'ru-RU' });
  const page = await context.newPage();
  const response = await page.goto('/login');
  // Rendered in Russian on the server, before any script runs, and the document says so.
  const html = await response!.text();
  expect(html).toContain('Вход в Tessera');
  expect(html).toMatch(/<html[^>]* lang="ru"/);
  await page.waitForLoadState('networkidle');
  await expect(page.getByRole('heading', { name: 'Вход в Tessera' })).toBeVisible();
  await expect(page.getByLabel('Имя пользователя')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Войти' })).toBeVisible();
});
