import { expect, newPage, open, row, shot, signIn, signInAsAdmin, test, type Seed } from './helpers';
import type { Page } from '@playwright/test';

// Form spec: runs with JavaScript on (project js) and off (project no-js). Each test installs a
// personal license of 5 seats for a product of its own, and makes its own users.

type Product = { code: string; name: string; users: Record<string, { name: string; id: string }> };

/** A product of 5 seats, and users named after the tag ('manager' is a License manager, the others Users). */
async function seatProduct(seed: Seed, tag: string, users: string[]): Promise<Product> {
  const product = { code: `seats-${tag}`, name: `Seats ${tag}`, users: {} as Product['users'] };
  await seed.install([
    { type: 'personal', product: product.code, product_name: product.name, mode: 'buyout', permanent: true, seats: 5 },
  ]);
  for (const who of users) {
    const name = `${tag}-${who}`;
    product.users[who] = { name, id: await seed.user(name, 'seat-password-1', who === 'manager' ? 'license_manager' : 'user') };
  }
  return product;
}

async function openProduct(page: Page, product: Product) {
  await open(page, `/settings/licenses?q=${product.code}`);
  await page.getByRole('link', { name: product.name }).click();
  await expect(page.getByRole('heading', { name: product.name, level: 1 })).toBeVisible();
}

function seatNumbers(page: Page, used: number, free: number) {
  return expect(page.getByText(new RegExp(`^Used\\s*${used}\\s*Free\\s*${free}\\s*Total\\s*5$`))).toBeVisible();
}

/** Finds the candidates named after the tag, checks the users' boxes and applies. */
async function give(page: Page, tag: string, names: string[]) {
  await page.getByLabel('Search users by name, tenant or role').fill(tag);
  await page.getByRole('button', { name: 'Find' }).click();
  for (const name of names) {
    // The candidates' boxes are labelled with their names, in the list of candidates.
    await page.getByRole('listitem').getByLabel(name, { exact: true }).check();
  }
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page.getByRole('status')).toHaveText('Seats given.');
}

async function recall(page: Page, name: string) {
  await row(page, name).getByRole('button', { name: 'Recall' }).click();
  await expect(page.getByRole('status')).toHaveText('Seats recalled: they are free again.');
}

test('the administrator gives seats, recalls one and gives it to another', async ({ page, seed, tag }) => {
  const product = await seatProduct(seed, tag, ['a', 'b', 'c', 'd']);
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((k) => product.users[k].name);
  await signInAsAdmin(page);
  await openProduct(page, product);
  await seatNumbers(page, 0, 5);
  await give(page, tag, [a, b, c]);
  await seatNumbers(page, 3, 2);
  await expect(row(page, b)).toBeVisible();
  await shot(page, 'product');
  await recall(page, a);
  await seatNumbers(page, 2, 3);
  await expect(row(page, a)).toHaveCount(0);
  await give(page, tag, [d]);
  await seatNumbers(page, 3, 2);
});

test('a License manager does the same; a User cannot reach the page', async ({ browser, seed, tag }) => {
  const product = await seatProduct(seed, tag, ['manager', 'b', 'c', 'e']);
  const { manager, b, c, e } = product.users;
  await seed.giveSeats(product.code, [b.id, c.id]);

  const page = await newPage(browser);
  await signIn(page, manager.name, 'seat-password-1');
  await openProduct(page, product);
  await seatNumbers(page, 2, 3);
  await recall(page, b.name);
  await seatNumbers(page, 1, 4);
  await page.getByLabel('Search users by name, tenant or role').fill(e.name);
  await page.getByRole('button', { name: 'Find' }).click();
  await expect(page.getByRole('listitem').getByRole('checkbox')).toHaveCount(1);
  await page.getByRole('listitem').getByLabel(e.name, { exact: true }).check();
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page.getByRole('status')).toHaveText('Seats given.');
  await seatNumbers(page, 2, 3);

  const user = await newPage(browser);
  await signIn(user, c.name, 'seat-password-1');
  // A User sees their own seat on their start page.
  await expect(user.getByRole('listitem').filter({ hasText: product.name })).toBeVisible();
  const response = await user.goto(new URL(page.url()).pathname);
  expect(response?.status()).toBe(403);
});

test('Settings > Users: a License manager gives a seat to one user and recalls it', async ({ page, seed, tag }) => {
  const product = await seatProduct(seed, tag, ['manager', 'a', 'c']);
  const { manager, a, c } = product.users;
  await seed.giveSeats(product.code, [c.id]);

  await signIn(page, manager.name, 'seat-password-1');
  await open(page, '/settings/users');
  // The list, without the administrators' user management.
  await expect(page.getByRole('heading', { name: 'New user' })).toHaveCount(0);
  await expect(page.getByRole('link', { name: 'Upload licenses' })).toHaveCount(0);
  await page.getByLabel('Search users by name or tenant').fill(a.name);
  await page.getByRole('button', { name: 'Find' }).click();
  await expect(page.getByRole('table').getByRole('row')).toHaveCount(2);
  await page.getByLabel(`Give a seat to ${a.name}`).selectOption({ label: product.name });
  await page.getByRole('button', { name: 'Give', exact: true }).click();
  await expect(page.getByRole('status')).toHaveText('Seats given.');
  // A seat a user holds is shown with its Recall button, named after the product and the user;
  // the products they could be given are the options of their "Give a seat to" list (the other
  // tests' products among them: the row's text alone says nothing).
  const held = (name: string) => row(page, name).getByRole('button', { name: `Recall ${product.name} (${name})`, exact: true });
  const givable = (name: string) => page.getByLabel(`Give a seat to ${name}`, { exact: true }).getByRole('option', { name: product.name, exact: true });
  await open(page, `/settings/users?q=${tag}`);
  await expect(held(a.name)).toBeVisible();
  await expect(givable(a.name)).toHaveCount(0);
  await expect(held(c.name)).toBeVisible();
  await shot(page, 'users-seats');
  await held(a.name).click();
  await expect(page.getByRole('status')).toHaveText('Seats recalled: they are free again.');
  await open(page, `/settings/users?q=${tag}`);
  await expect(held(a.name)).toHaveCount(0);
  await expect(givable(a.name)).toHaveCount(1);
  await expect(held(c.name)).toBeVisible();
});

test('Settings > Users offers Request and Upload licenses to the administrator', async ({ page }) => {
  await signInAsAdmin(page);
  await open(page, '/settings/users');
  await page.getByRole('link', { name: 'Upload licenses' }).click();
  await expect(page.getByLabel('License package (.lcs)')).toBeVisible();
  await open(page, '/settings/users');
  await page.getByRole('link', { name: 'Request licenses' }).click();
  await expect(page.getByLabel('Company id')).toBeVisible();
});
