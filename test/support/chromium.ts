import { Browser, chromium } from 'playwright-core';
import { ensureDebianPackage } from './debian';

export const CHROMIUM = '/usr/bin/chromium';

/** Debian's headless Chromium, driven by playwright-core (which downloads no browser of its own). */
export async function launchChromium(): Promise<Browser> {
  ensureDebianPackage(CHROMIUM, 'chromium');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * One Chromium for a describe block: launched in its `beforeAll` (the first run may
 * install Debian's package, hence the long timeout), closed in its `afterAll`.
 */
export function useChromium(): { readonly browser: Browser } {
  const held = {} as { browser: Browser };
  beforeAll(
    async () => {
      held.browser = await launchChromium();
    },
    15 * 60 * 1000,
  );
  afterAll(async () => {
    await held.browser?.close();
  });
  return held;
}
