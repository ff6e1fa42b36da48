import { Controller, Get, Header, NotFoundException, Param, Res } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiExcludeController } from '@nestjs/swagger';

/** Beside this file in the sources, and copied beside the compiled one by `scripts/post-build.sh`. */
const STATIC_DIR = join(__dirname, 'static');
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };
/** Only these names are served: no path ever reaches the file system from a request. */
const FILES = ['index.html', 'time-axis.js', 'dashboard.js', 'dashboard.css'];

/**
 * The live dashboard at `/ui`: static HTML and vanilla JS that poll the router's own API
 * (`/v1/deployments`, `/v1/deployments/{name}`, `/v1/deployments/{name}/history`). The
 * files hold no data and stay open: a browser opening the page sends no key, so where
 * READ_API_KEY is set the page asks for one and its API calls carry it (`ReadGuard`).
 */
@ApiExcludeController()
@Controller('ui')
export class UiController {
  private readonly files = new Map<string, Buffer>();

  @Get()
  @Header('content-type', TYPES.html)
  @Header('cache-control', 'no-cache')
  index(): Buffer {
    return this.file('index.html');
  }

  @Get(':file')
  @Header('cache-control', 'no-cache')
  asset(@Param('file') name: string, @Res({ passthrough: true }) reply: { type: (type: string) => void }): Buffer {
    if (!FILES.includes(name)) throw new NotFoundException(`no dashboard file "${name}"`);
    reply.type(TYPES[name.split('.').pop()!]);
    return this.file(name);
  }

  private file(name: string): Buffer {
    let body = this.files.get(name);
    if (!body) {
      body = readFileSync(join(STATIC_DIR, name));
      this.files.set(name, body);
    }
    return body;
  }
}
