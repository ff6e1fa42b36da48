import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Redis from 'ioredis';
import { defineScripts, scriptSource } from './scripts';

describe(defineScripts.name, () => {
  function defined(): Map<string, { lua: string; numberOfKeys?: number }> {
    const commands = new Map<string, { lua: string; numberOfKeys?: number }>();
    const connection = { defineCommand: (name: string, definition: { lua: string; numberOfKeys?: number }) => commands.set(name, definition) };
    defineScripts(connection as unknown as Redis);
    return commands;
  }

  it('defines each command with its Lua read from disk, and its key count', () => {
    const sut = defined();
    expect(sut.get('applyRewards')).toEqual({ lua: scriptSource('applyRewards'), numberOfKeys: 6 });
    expect(sut.get('writeFoldedSpec')).toEqual({ lua: scriptSource('writeFoldedSpec') });
    expect(sut.get('applyRewards')!.lua).toContain("redis.call('HINCRBY', stats, base .. ':count', 1)");
  });

  it('opens the join scripts with the shared marker check and seen-set update', () => {
    const sut = defined();
    const predictions = sut.get('joinPredictions')!.lua;
    expect(predictions.indexOf('JOINSTATE_LOST')).toBeLessThan(predictions.indexOf('local function seen'));
    expect(predictions.indexOf('local function seen')).toBeLessThan(predictions.indexOf('seen(key,'));
    expect(sut.get('restoreClaim')!.lua).not.toContain('JOINSTATE_LOST');
  });

  it('uses every .lua file there is', () => {
    const used = [...defined().values()].map((d) => d.lua).join('\n');
    const files = readdirSync(join(__dirname, 'lua')).filter((f) => f.endsWith('.lua'));
    expect(files.length).toBeGreaterThan(10);
    const unused = files.filter((f) => !used.includes(readFileSync(join(__dirname, 'lua', f), 'utf8')));
    expect(unused).toEqual([]);
  });
});
