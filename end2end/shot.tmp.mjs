import { chromium } from 'playwright';
const [,, base, cookie, path, out] = process.argv;
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
const ctx = await browser.newContext({ viewport: { width: 1280, height: 1400 } });
await ctx.addCookies([{ name: 'tessera_session', value: cookie, url: base }]);
const page = await ctx.newPage();
await page.goto(base + path);
await page.screenshot({ path: out, fullPage: false });
await browser.close();
