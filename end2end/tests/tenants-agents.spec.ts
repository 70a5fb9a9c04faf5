import { expect, open, row, shot, signInAsAdmin, tenantCard, test } from './helpers';
import type { APIRequestContext } from '@playwright/test';

// Form spec: runs with JavaScript on (project js) and off (project no-js). Its tenant, licenses
// and machines are named after the test's tag.

async function registerAgent(request: APIRequestContext, key: string, machine: string): Promise<string> {
  const r = await request.post('/api/v1/agents/register', { data: { enrollment_key: key, machine_id: machine } });
  expect(r.status()).toBe(200);
  return (await r.json()).token;
}

async function checkout(request: APIRequestContext, token: string) {
  const r = await request.post('/api/v1/agents/checkout', { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status(), body: await r.json() };
}

test('tenants get platform licenses, agents get fixed and floating ones', async ({ page, request, seed, tag, javaScriptEnabled }) => {
  const tenant = `Acme ${tag}`;
  const [platform, fixed, floating] = [`Acme Platform ${tag}`, `Fixed Agent ${tag}`, `Acme Floating ${tag}`];
  const [machine1, machine2, machine3] = [1, 2, 3].map((n) => `${tag}-${n}`);
  await signInAsAdmin(page);

  // A new tenant, with its enrollment key.
  await open(page, '/settings/tenants');
  await page.getByLabel('Tenant name').fill(tenant);
  await page.getByRole('button', { name: 'Create tenant' }).click();
  await expect(page.getByRole('status')).toHaveText('Tenant created.');
  const card = tenantCard(page, tenant);
  await expect(card).toContainText(/Platform license\s*none/);
  const key = await card.getByLabel('Enrollment key').inputValue();
  expect(key).toMatch(/^tek_/);
  if (javaScriptEnabled) {
    // The copy button is an island: it answers once the client has hydrated it.
    await card.getByRole('button', { name: 'Copy' }).click();
    await expect(card.getByRole('button', { name: 'Copied' })).toBeVisible();
  }
  // Its agents' signed leases last 2 seconds (5 minutes unless set).
  await expect(card.getByLabel('Lease time')).toHaveValue('300');
  await card.getByLabel('Lease time').fill('2');
  await card.locator('form').filter({ has: page.getByLabel('Lease time') }).getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('status')).toHaveText('Saved.');
  await expect(card.getByLabel('Lease time')).toHaveValue('2');

  // Licenses for it, from the vendor (another tenant than Default: the platform license waits
  // for an assignment).
  await seed.install([
    { type: 'platform', product: 'ai-server', product_name: platform, mode: 'subscription', days: 30 },
    { type: 'agent', product: 'ai-server', product_name: fixed, mode: 'subscription', days: 90, binding: 'fixed' },
    { type: 'agent', product: 'ai-server', product_name: floating, mode: 'subscription', days: 90, binding: 'floating' },
  ]);

  // The platform license goes to the tenant; its expiry appears.
  await open(page, '/settings/tenants');
  await page.getByLabel('License', { exact: true }).selectOption({ label: `${platform} · Platform · 30 days` });
  await page.getByLabel('Tenant', { exact: true }).selectOption({ label: tenant });
  await page.getByRole('button', { name: 'Assign', exact: true }).click();
  await expect(page.getByRole('status')).toHaveText('License assigned.');
  await expect(card).toContainText(/Platform license\s*\w+ \d+, \d{4}/);
  // The floating license joins the tenant's pool.
  await page.getByLabel('License', { exact: true }).selectOption({ label: `${floating} · Agent · floating · 90 days` });
  await page.getByLabel('Tenant', { exact: true }).selectOption({ label: tenant });
  await page.getByRole('button', { name: 'Assign', exact: true }).click();
  await expect(page.getByRole('status')).toHaveText('License assigned.');
  await expect(card).toContainText('1 free in its pool');
  await shot(page, 'tenants');

  // Two of the tenant's machines register; the first takes the pool's floating license.
  const first = await registerAgent(request, key, machine1);
  await registerAgent(request, key, machine2);
  const out = await checkout(request, first);
  expect(out.status).toBe(200);
  expect(out.body.basis).toBe('floating');
  // With a lease of the tenant's lease time, set on its card.
  const lease = JSON.parse(Buffer.from(out.body.lease.payload, 'base64url').toString());
  expect(lease.valid_until - lease.issued_at).toBe(2_000);

  // Bind the fixed license to the second, with the confirmation.
  await open(page, '/settings/agents');
  await expect(row(page, machine1)).toContainText(floating);
  await page.getByRole('link', { name: machine2, exact: true }).click();
  await expect(page.getByRole('heading', { name: machine2 })).toBeVisible();
  await expect(page.getByText('not licensed', { exact: true })).toBeVisible();
  await page.getByLabel('License', { exact: true }).selectOption({ label: `${fixed} · 90 days` });
  await page.getByLabel('I understand that a fixed binding can never be changed.').check();
  await page.getByRole('button', { name: 'Bind' }).click();
  await expect(page.getByRole('status')).toHaveText('The license is bound to this agent for good.');
  await expect(page.getByText('not licensed', { exact: true })).toHaveCount(0);
  await expect(page.getByText(fixed)).toBeVisible();
  await shot(page, 'agent');
  // It cannot be bound again: the page offers it no more, and the server refuses.
  await expect(page.getByRole('option', { name: new RegExp(fixed) })).toHaveCount(0);
  const agentUrl = page.url();
  const agentId = agentUrl.split('/').pop()!.split('?')[0];
  const detail = await page.request.post('/api/agents/get', {
    form: { agent_id: agentId },
    headers: { origin: new URL(agentUrl).origin },
  });
  const licenseId = (await detail.json()).agent.license.id;
  const again = await page.request.post('/api/agents/bind', {
    form: { agent_id: agentId, license_id: licenseId, understood: 'yes' },
    headers: { origin: new URL(agentUrl).origin },
  });
  expect(again.status()).toBe(409);
  expect((await again.json()).kind).toBe('already_bound');

  // Shut the first machine down: its floating license is free for another agent once the lease
  // it may still work under has ended (the tenant's lease time, 2 s, set above).
  await open(page, '/settings/agents');
  await row(page, machine1).getByRole('button', { name: 'Shut down' }).click();
  await expect(row(page, machine1)).toContainText('shut down');
  await expect(row(page, machine1)).toContainText('none');
  await shot(page, 'agents');
  await expect(async () => {
    await open(page, '/settings/tenants');
    await expect(card).toContainText('1 free in its pool', { timeout: 1_000 });
  }).toPass();
  expect((await checkout(request, first)).body.error).toBe('agent_shut_down');
  const third = await registerAgent(request, key, machine3);
  const taken = await checkout(request, third);
  expect(taken.status).toBe(200);
  expect(taken.body.license_id).toBe(out.body.license_id);

  // Borrowing: off until the tenant's card allows it, then the third machine's license is
  // borrowed on its page, and its next checkout's lease runs to the borrow's end.
  await open(page, '/settings/tenants');
  await expect(card.getByLabel('Borrowing')).toHaveValue('');
  await card.getByLabel('Borrowing').fill('24');
  await card.getByLabel('keep', { exact: true }).fill('0');
  await card.locator('form').filter({ has: page.getByLabel('Borrowing') }).getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('status')).toHaveText('Saved.');
  await expect(card.getByLabel('Borrowing')).toHaveValue('24');
  await open(page, '/settings/agents');
  await page.getByRole('link', { name: machine3, exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Borrow the license' })).toBeVisible();
  await page.getByLabel('Hours to borrow').fill('8');
  await page.getByRole('button', { name: 'Borrow', exact: true }).click();
  await expect(page.getByRole('status')).toHaveText(/^The license is borrowed/);
  await expect(page.getByTestId('borrowed-until')).toBeVisible();
  await shot(page, 'agent-borrowed');
  const borrowed = await checkout(request, third);
  expect(borrowed.status).toBe(200);
  const long = JSON.parse(Buffer.from(borrowed.body.lease.payload, 'base64url').toString());
  expect(long.valid_until - long.issued_at).toBeGreaterThan(7 * 3_600_000);
  expect(borrowed.body.borrowed_until).toBe(long.valid_until);
});
