import { certificateIds, expect, issue, open, shot, signInAsAdmin, test } from './helpers';

test('a certificate withdrawn before it arrives is installed revoked and licenses nothing', async ({ page, seed, tag }) => {
  const withdrawnName = `Withdrawn platform ${tag}`;
  const request = await seed.request();
  const platform = issue(seed.dir, request, [
    { type: 'platform', product: 'ai-server', product_name: withdrawnName, mode: 'subscription', days: 30 },
  ]);
  const [withdrawn] = certificateIds(platform);
  // The vendor withdraws it before the administrator has uploaded it.
  const revoker = issue(seed.dir, request, [
    { type: 'server', product: 'ai-server', product_name: `Replacement ${tag}`, mode: 'subscription', days: 30, feature: `withdrawal-${tag}`, revokes: [withdrawn] },
  ]);
  await seed.call('licenses/confirm', { id: await seed.upload(revoker) });

  await signInAsAdmin(page);
  await open(page, '/settings/licenses/upload');
  await page.getByLabel('License package (.lcs)').setInputFiles(platform);
  await page.getByRole('button', { name: 'Check the package' }).click();
  await expect(page.getByRole('heading', { name: 'Preview of the package' })).toBeVisible();
  await expect(page.getByRole('listitem').filter({ hasText: withdrawnName })).toContainText(
    'arrives revoked by another certificate, and licenses nothing',
  );
  await shot(page, 'preview-arrives-revoked');
  await page.waitForLoadState('networkidle');
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect(page).toHaveURL(/\/settings\/licenses\?installed=1/);

  await open(page, `/settings/licenses?status=revoked&q=${tag}`);
  await expect(page.getByRole('table').getByRole('row').filter({ hasText: withdrawnName })).toHaveCount(1);
});
