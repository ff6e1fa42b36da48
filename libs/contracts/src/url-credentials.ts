/** What stands for a URL's password (or a lone user name, a token) wherever a URL is shown. */
export const MASKED_CREDENTIAL = '***';

/**
 * A URL as it may be shown: the password of its userinfo masked (`https://user:***@host`),
 * or a user name with no password, which is then a token (`https://***@host`). A URL
 * without credentials, or one that does not parse, is returned as it is.
 */
export function maskUrlCredentials(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  if (parsed.password) parsed.password = MASKED_CREDENTIAL;
  else if (parsed.username) parsed.username = MASKED_CREDENTIAL;
  else return url;
  return parsed.toString();
}

/** A spec (or any object with `variants`) with every variant URL's credentials masked; the rest as it is. */
export function withMaskedUrls<T extends { variants: { url: string }[] }>(spec: T): T {
  return { ...spec, variants: spec.variants.map((variant) => ({ ...variant, url: maskUrlCredentials(variant.url) })) };
}
