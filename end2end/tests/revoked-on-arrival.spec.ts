import { expect, test } from '@playwright/test';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issue, open, requestLicenses, signInAsAdmin, uploadAndConfirm } from './helpers';

// Runs after zz-expiry.spec.ts (files run in name order), with the clock it left.

/** The ids of the certificates in a package, in order (each block's envelope carries the payload). */
function certificateIds(pkg: string): string[] {
  return readFileSync(pkg, 'utf8')
    .split('-----BEGIN TESSERA CERTIFICATE-----')
    .slice(1)
    .map((block) => {
      const envelope = JSON.parse(Buffer.from(block.split('-----END')[0].replace(/\s+/g, ''), 'base64').toString('utf8'));
      return JSON.parse(Buffer.from(envelope.payload, 'base64url').toString('utf8')).id;
    });
}

test('a certificate withdrawn before it arrives is installed revoked and licenses nothing', async ({ page }) => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
  const later = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
  await signInAsAdmin(page);
  const request = await requestLicenses(page, dir);
  const platform = issue(later, request, [
    { type: 'platform', product: 'ai-server', product_name: 'Withdrawn platform', mode: 'subscription', days: 30 },
  ]);
  const [withdrawn] = certificateIds(platform);
  // The vendor withdraws it before the administrator has uploaded it.
  const revoker = issue(dir, request, [
    { type: 'server', product: 'ai-server', product_name: 'Replacement', mode: 'subscription', days: 30, feature: 'withdrawal-test', revokes: [withdrawn] },
  ]);
  await uploadAndConfirm(page, revoker);

  await open(page, '/settings/licenses/upload');
  await page.getByLabel('License package (.lcs)').setInputFiles(platform);
  await page.getByRole('button', { name: 'Check the package' }).click();
  await expect(page.getByRole('heading', { name: 'Preview of the package' })).toBeVisible();
  await expect(page.getByTestId('preview-summary')).toContainText('arrives revoked by another certificate, and licenses nothing');
  await page.screenshot({ path: 'test-results/preview-arrives-revoked.png', fullPage: true });
  await page.waitForLoadState('networkidle');
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect(page).toHaveURL(/\/settings\/licenses\?installed=1/);

  await open(page, '/settings/licenses?status=revoked');
  const table = page.getByTestId('licenses');
  await expect(table.getByRole('row').filter({ hasText: 'Withdrawn platform' })).toHaveCount(1);
});
