import { expect, test, type APIRequestContext } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issue, open, requestLicenses, signInAsAdmin, uploadAndConfirm } from './helpers';

// Runs after licenses.spec.ts (files run in name order, one worker): a second tenant makes an
// unnamed platform license wait for an assignment.
const spec = [
  { type: 'platform', product: 'ai-server', product_name: 'Acme Platform', mode: 'subscription', days: 30 },
  { type: 'agent', product: 'ai-server', product_name: 'Fixed Agent', mode: 'subscription', days: 90, binding: 'fixed' },
  { type: 'agent', product: 'ai-server', product_name: 'Acme Floating', mode: 'subscription', days: 90, binding: 'floating' },
];

async function registerAgent(request: APIRequestContext, key: string, machine: string): Promise<string> {
  const r = await request.post('/api/v1/agents/register', { data: { enrollment_key: key, machine_id: machine } });
  expect(r.status()).toBe(200);
  return (await r.json()).token;
}

async function checkout(request: APIRequestContext, token: string) {
  const r = await request.post('/api/v1/agents/checkout', { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status(), body: await r.json() };
}

test('tenants get platform licenses, agents get fixed and floating ones', async ({ page, request }) => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
  await signInAsAdmin(page);

  // A new tenant, with its enrollment key.
  await open(page, '/settings/tenants');
  await page.getByLabel('Tenant name').fill('Acme');
  await page.getByRole('button', { name: 'Create tenant' }).click();
  await expect(page.getByRole('status')).toHaveText('Tenant created.');
  const acme = page.locator('section[data-tenant="Acme"]');
  await expect(acme.getByTestId('platform-until')).toHaveText('none');
  const key = await acme.getByLabel('Enrollment key').inputValue();
  expect(key).toMatch(/^tek_/);
  // The copy button is an island: it answers once the client has hydrated it.
  await acme.getByRole('button', { name: 'Copy' }).click();
  await expect(acme.getByRole('button', { name: 'Copied' })).toBeVisible();

  // Licenses for it, from the vendor.
  const pkg = issue(dir, await requestLicenses(page, dir), spec);
  await uploadAndConfirm(page, pkg);

  // The platform license goes to Acme; Acme's expiry appears.
  await open(page, '/settings/tenants');
  await page.getByLabel('License', { exact: true }).selectOption({ label: 'Acme Platform · Platform · 30 days' });
  await page.getByLabel('Tenant', { exact: true }).selectOption({ label: 'Acme' });
  await page.getByRole('button', { name: 'Assign', exact: true }).click();
  await expect(page.getByRole('status')).toHaveText('License assigned.');
  await expect(acme.getByTestId('platform-until')).toHaveText(/\w+ \d+, \d{4}/);
  // The floating license joins Acme's pool.
  await page.getByLabel('License', { exact: true }).selectOption({ label: 'Acme Floating · Agent · floating · 90 days' });
  await page.getByLabel('Tenant', { exact: true }).selectOption({ label: 'Acme' });
  await page.getByRole('button', { name: 'Assign', exact: true }).click();
  await expect(acme).toContainText('1 free in its pool');
  await page.screenshot({ path: 'test-results/tenants.png', fullPage: true });

  // Two of Acme's machines register; the first takes the pool's floating license.
  const first = await registerAgent(request, key, 'acme-1');
  await registerAgent(request, key, 'acme-2');
  const out = await checkout(request, first);
  expect(out.status).toBe(200);
  expect(out.body.basis).toBe('floating');

  // Bind the fixed license to the second, with the confirmation.
  await open(page, '/settings/agents');
  await expect(page.getByRole('row').filter({ hasText: 'acme-1' })).toContainText('Acme Floating');
  await page.getByRole('link', { name: 'acme-2' }).click();
  await expect(page.getByRole('heading', { name: 'acme-2' })).toBeVisible();
  await expect(page.getByTestId('licensed-until')).toHaveText('not licensed');
  await page.getByLabel('License', { exact: true }).selectOption({ label: 'Fixed Agent · 90 days' });
  await page.getByLabel('I understand that a fixed binding can never be changed.').check();
  await page.getByRole('button', { name: 'Bind' }).click();
  await expect(page.getByRole('status')).toHaveText('The license is bound to this agent for good.');
  await expect(page.getByTestId('licensed-until')).toHaveText(/\w+ \d+, \d{4}/);
  await page.screenshot({ path: 'test-results/agent.png', fullPage: true });
  // It cannot be bound again: the page offers it no more, and the server refuses.
  await expect(page.getByText('No fixed agent license is free')).toBeVisible();
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

  // Shut the first machine down: its floating license is free for another agent.
  await open(page, '/settings/agents');
  const usage = page.getByTestId('floating-usage');
  const before = Number((await usage.innerText()).match(/(\d+) of/)![1]);
  const row = page.getByRole('row').filter({ hasText: 'acme-1' });
  await row.getByRole('button', { name: 'Shut down' }).click();
  await expect(row).toContainText('shut down');
  await expect(row).toContainText('none');
  await expect(usage).toContainText(`${before - 1} of`);
  await page.screenshot({ path: 'test-results/agents.png', fullPage: true });
  expect((await checkout(request, first)).body.error).toBe('agent_shut_down');
  const third = await registerAgent(request, key, 'acme-3');
  const taken = await checkout(request, third);
  expect(taken.status).toBe(200);
  expect(taken.body.license_id).toBe(out.body.license_id);
});
