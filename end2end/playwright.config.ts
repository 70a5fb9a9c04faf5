import { defineConfig, type Project } from '@playwright/test';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

// Tessera's release build on fresh SQLite databases, driven in Debian's Chromium.
//
// Every spec seeds what it needs (users, tenants, packages, named uniquely), so the specs pass
// alone and in any order. Two servers, each on a fresh database of its own:
//   - the main one, for every spec that leaves the clock alone;
//   - the clock one (TESSERA_TEST_CLOCK=1), for the specs that move the server's clock, which
//     never goes back: they would expire the others' licenses.
// Projects:
//   - js: every spec but the clock ones, on the main server;
//   - no-js: the form specs again, with JavaScript off (every page works as plain forms), on the
//     main server;
//   - clock: the clock specs, on the clock server.
// Two workers: spec files run two at a time (the tests within a file in order, in one worker).
// The clock project keeps one worker of its own: its specs share a clock that only goes forward.
// The others share the main server as they would share an installation: every spec names what it
// seeds uniquely and asserts only on that.
// TESSERA_E2E_ORDER=reverse runs the spec files in reverse order (one project per file, in that
// order, one worker: the order is the point), to show that no spec leans on another having run
// before it.
const port = Number(process.env.TESSERA_E2E_PORT ?? 3210);
const clockPort = port + 1;
const main = `http://127.0.0.1:${port}`;
const clock = `http://127.0.0.1:${clockPort}`;

const clockSpecs = ['expiry.spec.ts', 'first-valid-day.spec.ts', 'usage.spec.ts'];
const formSpecs = ['agent-api.spec.ts', 'sign-in-and-users.spec.ts', 'licenses.spec.ts', 'seats.spec.ts', 'tenants-agents.spec.ts'];
const allSpecs = readdirSync(join(__dirname, 'tests'))
  .filter((f) => f.endsWith('.spec.ts'))
  .sort();
const files = (names: string[]) => names.map((f) => `**/${f}`);

const reverse = process.env.TESSERA_E2E_ORDER === 'reverse';

const projects: Project[] = [
  {
    name: 'js',
    testMatch: files(allSpecs.filter((f) => !clockSpecs.includes(f))),
    use: { baseURL: main },
  },
  {
    name: 'no-js',
    testMatch: files(formSpecs),
    use: { baseURL: main, javaScriptEnabled: false },
  },
  {
    name: 'clock',
    testMatch: files(clockSpecs),
    use: { baseURL: clock },
    workers: 1,
  },
];

/** Each project split into one project per spec file, files and projects in reverse order. */
function reversed(list: Project[]): Project[] {
  return list
    .flatMap((p) =>
      allSpecs
        .filter((f) => (p.testMatch as string[]).includes(`**/${f}`))
        .map((f): Project => ({ ...p, name: `${p.name}:${f}`, testMatch: `**/${f}` })),
    )
    .reverse();
}

const server = (p: number, ...args: string[]) => ({
  command: ['bash', './serve.sh', String(p), ...args].join(' '),
  url: `http://127.0.0.1:${p}/healthz`,
  reuseExistingServer: false,
  timeout: 60_000,
  stdout: 'pipe' as const,
  stderr: 'pipe' as const,
});

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  workers: reverse ? 1 : 2,
  reporter: [['list']],
  projects: reverse ? reversed(projects) : projects,
  use: {
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  webServer: [server(port), server(clockPort, 'clock')],
});
