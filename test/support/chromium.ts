import { Browser, chromium } from 'playwright-core';
import { ensureDebianPackage } from './debian';

export const CHROMIUM = '/usr/bin/chromium';

/** How long Chromium may take to start once installed; on a loaded machine a launch has hung. */
export const LAUNCH_TIMEOUT_MS = 2 * 60 * 1000;
const INSTALL_TIMEOUT_MS = 15 * 60 * 1000;

/** Debian's headless Chromium, driven by playwright-core (which downloads no browser of its own). */
export async function launchChromium(): Promise<Browser> {
  ensureDebianPackage(CHROMIUM, 'chromium');
  try {
    return await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: LAUNCH_TIMEOUT_MS,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
  } catch (error) {
    throw new Error(`${CHROMIUM} did not start within ${LAUNCH_TIMEOUT_MS / 1000} s: ${(error as Error).message}`);
  }
}

/**
 * One Chromium for a describe block: launched in its `beforeAll` (the first run may
 * install Debian's package, hence the long timeout), closed in its `afterAll`.
 */
export function useChromium(): { readonly browser: Browser } {
  const held = {} as { browser: Browser };
  beforeAll(async () => {
    held.browser = await launchChromium();
  }, INSTALL_TIMEOUT_MS + LAUNCH_TIMEOUT_MS);
  afterAll(async () => {
    await held.browser?.close();
  });
  return held;
}
