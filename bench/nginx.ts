/**
 * nginx, the proxy users put in front of their models for a canary or a shadow without
 * ground truth: Debian's package (installed when missing, as the tests install theirs),
 * run with a configuration of the bench's own in front of the same model-server as the
 * router. `/canary` splits on the unit key (`split_clients`, 10 % to churn-v2) the way the
 * router's canary does; `/shadow` answers from churn-v1 and mirrors every request to
 * churn-v2 (`mirror`), where the router hands the shadow request to Kafka instead.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OUT, ROOT, RUN_ID, Service, startProcess } from './harness';

const NGINX = '/usr/sbin/nginx';

/** The header nginx's canary reads the unit key from (the router reads `unitKey` from the body). */
export const NGINX_UNIT_HEADER = 'x-unit-key';

function config(dir: string, port: number, modelUrl: string): string {
  const model = new URL(modelUrl);
  const infer = (name: string) => `/v2/models/${name}/infer`;
  // Keep-alive to the model-server like the router's undici pool (64 connections); one
  // worker, as the router is one process: CPU per request is compared, not cores.
  const upstream = ['proxy_http_version 1.1;', 'proxy_set_header Connection "";', 'proxy_read_timeout 10s;'].join(' ');
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_body_buffer_size 64k;
  keepalive_requests 1000000;
  upstream model { server ${model.host}; keepalive 64; }
  split_clients "$http_${NGINX_UNIT_HEADER.replace(/-/g, '_')}" $canary_model { 10% churn-v2; * churn-v1; }
  server {
    listen 127.0.0.1:${port};
    location = /readyz { return 200; }
    location = /canary { proxy_pass http://model/v2/models/$canary_model/infer; ${upstream} }
    location = /shadow { mirror /mirror; mirror_request_body on; proxy_pass http://model${infer('churn-v1')}; ${upstream} }
    location = /mirror { internal; proxy_pass http://model${infer('churn-v2')}; ${upstream} }
  }
}
`;
}

/** Installs nginx when missing, writes the configuration and starts it (master in the foreground, one worker). */
export async function startNginx(modelUrl: string): Promise<Service> {
  execFileSync('bash', [join(ROOT, 'scripts', 'ensure-debian-package.sh'), NGINX, 'nginx'], {
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 15 * 60 * 1000,
  });
  const dir = join(OUT, 'nginx', RUN_ID);
  mkdirSync(dir, { recursive: true });
  return startProcess(
    'nginx',
    (port) => {
      const file = join(dir, 'nginx.conf');
      writeFileSync(file, config(dir, port, modelUrl));
      return [NGINX, '-p', dir, '-e', join(dir, 'error.log'), '-c', file];
    },
    {},
  );
}
