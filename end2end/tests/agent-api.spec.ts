import { expect, open, shot, signInAsAdmin, test } from './helpers';

// Projects js and no-js (main server): Settings > Agents links to the agent API's reference,
// which shows the OpenAPI document the server serves, route by route and schema by schema, with
// the constraints the server enforces.

test('Settings > Agents > Agent API shows every route and the constraints of a registration', async ({ page, request }) => {
  await signInAsAdmin(page);
  await open(page, '/settings/agents');
  await page.getByRole('link', { name: 'Agent API' }).click();
  await expect(page).toHaveURL(/\/settings\/agent-api$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Agent API' })).toBeVisible();

  // The routes as the document has them, register first.
  const doc = await (await request.get('/api/v1/openapi.json')).json();
  const routes = page.getByRole('navigation', { name: 'Routes' }).getByRole('listitem');
  await expect(routes).toHaveCount(Object.keys(doc.paths).length);
  await expect(routes.first()).toContainText('POST /api/v1/agents/register');

  // The registration's body: machine_id's limits, as the server enforces them.
  const register = page.locator('#post-api-v1-agents-register');
  await expect(register.getByRole('row', { name: /^413/ })).toBeVisible();
  const machineId = page.locator('#schema-RegisterRequest').getByRole('row', { name: /machine_id/ });
  await expect(machineId).toContainText('at least 1 character');
  await expect(machineId).toContainText('at most 200 characters');
  await register.getByRole('link', { name: 'RegisterRequest' }).click();
  await expect(page).toHaveURL(/#schema-RegisterRequest$/);
  await shot(page, 'agent-api');
});
