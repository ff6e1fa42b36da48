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
