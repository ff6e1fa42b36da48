/**
 * h2load (nghttp2's load generator, in C; Debian's nghttp2-client, installed when
 * missing): one native closed-loop driver for the OIP rows that compare REST with gRPC,
 * so neither protocol pays its client library's JavaScript on the cores the router runs
 * on (grpc-js cost the bench process 2-3× undici's CPU per request). REST goes as
 * HTTP/1.1 (`--h1`), gRPC as h2c with a length-prefixed protobuf body; both send bytes
 * built once and read the answers' bytes unparsed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OUT, ROOT, RUN_ID } from './harness';

const H2LOAD = '/usr/bin/h2load';
const NGHTTP = '/usr/bin/nghttp';
const DIR = join(OUT, 'h2load', RUN_ID);

/** Installs nghttp2-client (h2load, nghttp) when missing, as the nginx peer is. */
export function ensureH2load(): void {
  for (const path of [H2LOAD, NGHTTP]) {
    execFileSync('bash', [join(ROOT, 'scripts', 'ensure-debian-package.sh'), path, 'nghttp2-client'], {
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 15 * 60 * 1000,
    });
  }
}

export interface Load {
  /** Names the body and log files. */
  id: string;
  url: string;
  /** HTTP/1.1 (REST); else h2c (gRPC). */
  h1: boolean;
  headers: Record<string, string>;
  body: Buffer;
  connections: number;
  /** Requests in flight per connection (HTTP/2 streams; 1 on HTTP/1.1). */
  streams: number;
  seconds: number;
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  /** Answers that are not 2xx, and requests that failed or timed out (gRPC's own status is counted by the caller). */
  errors: number;
  /** 2xx answers. */
  ok: number;
  /** h2load's own CPU time, user + system, in seconds. */
  driverCpu: number;
}

/** A gRPC message as HTTP/2 DATA carries it: not compressed (0), its length (4 bytes, big-endian), its bytes. */
export function grpcFrame(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

export const GRPC_HEADERS = { 'content-type': 'application/grpc', te: 'trailers' };

function bodyFile(load: Load): string {
  mkdirSync(DIR, { recursive: true });
  const file = join(DIR, `${load.id}.body`);
  writeFileSync(file, load.body);
  return file;
}

const headerArgs = (headers: Record<string, string>) => Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);

/**
 * One h2load run of `seconds`, single-threaded: throughput from its own clock, latency
 * percentiles from its per-request log, its CPU from the shell's `times` (children's user
 * and system time) after it exits.
 */
export function h2load(load: Load): Promise<LoadResult> {
  const log = join(DIR, `${load.id}.log`);
  const args = [
    ...(load.h1 ? ['--h1'] : []),
    '-t1',
    `-c${load.connections}`,
    `-m${load.streams}`,
    `-D${load.seconds}`,
    '-d',
    bodyFile(load),
    ...headerArgs(load.headers),
    `--log-file=${log}`,
    load.url,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `"${H2LOAD}" "$@"; code=$?; times; exit $code`, 'h2load', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`h2load exited ${code}: ${out.slice(-2000)}`));
      try {
        resolve(parse(out, readFileSync(log, 'utf8')));
      } catch (error) {
        reject(new Error(`${(error as Error).message}: ${out.slice(-2000)}`));
      }
    });
  });
}

const number = (text: string, pattern: RegExp): number => {
  const match = pattern.exec(text);
  if (!match) throw new Error(`h2load's output has no ${pattern.source}`);
  return Number(match[1]);
};
const seconds = (minutes: string, secs: string) => Number(minutes) * 60 + Number(secs);

function parse(out: string, log: string): LoadResult {
  const elapsed = number(out, /finished in ([\d.]+)s/);
  const failed = number(out, /(\d+) failed/) + number(out, /(\d+) errored/) + number(out, /(\d+) timeout/);
  const ok = number(out, /status codes: (\d+) 2xx/);
  const notOk = number(out, /(\d+) 3xx/) + number(out, /(\d+) 4xx/) + number(out, /(\d+) 5xx/);
  // `times`: the shell's own user and system time, then its children's (h2load's).
  const times = [...out.matchAll(/(\d+)m([\d.]+)s (\d+)m([\d.]+)s/g)];
  if (times.length < 2) throw new Error("no `times` line after h2load's output");
  const [, um, us, sm, ss] = times[times.length - 1];
  // The log: a line per answered request, "start (µs since the epoch) TAB status TAB duration (µs)".
  const durations = log
    .split('\n')
    .filter(Boolean)
    .map((line) => Number(line.split('\t')[2]))
    .sort((a, b) => a - b);
  const percentile = (p: number) => (durations.length ? durations[Math.min(durations.length - 1, Math.floor((p / 100) * durations.length))] / 1000 : undefined);
  return {
    rps: ok / elapsed,
    p50: percentile(50) ?? NaN,
    p99: percentile(99) ?? NaN,
    errors: failed + notOk,
    ok,
    driverCpu: seconds(um, us) + seconds(sm, ss),
  };
}

/** The grpc-status of one call of `load` by nghttp (HTTP/2 trailers are invisible to h2load, which counts a gRPC error as 200). */
export function grpcStatusOf(load: Load): string | undefined {
  const out = execFileSync(NGHTTP, ['-v', '-d', bodyFile(load), ...headerArgs(load.headers), load.url], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return /grpc-status: (\d+)/.exec(out)?.[1];
}
