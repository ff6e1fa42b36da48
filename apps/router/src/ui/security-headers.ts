import { NestFastifyApplication } from '@nestjs/platform-fastify';

/**
 * The dashboard loads only its own files and calls only this router's API; Swagger UI
 * also needs its inline <style> blocks and data: icons. No page may be framed
 * (clickjacking), and no answer is sniffed into another type than it says.
 */
const CSP = {
  ui: "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  docs: "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

/** The headers of the pages a browser renders (`/ui`, `/docs`), on every answer under them, errors included. */
export function pageSecurityHeaders(app: NestFastifyApplication): void {
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onSend', async (request, reply) => {
      const path = request.url.split('?')[0];
      const page = path === '/ui' || path.startsWith('/ui/') ? 'ui' : path === '/docs' || path.startsWith('/docs/') ? 'docs' : undefined;
      if (!page) return;
      reply.header('content-security-policy', CSP[page]);
      reply.header('x-frame-options', 'DENY');
      reply.header('x-content-type-options', 'nosniff');
    });
}
