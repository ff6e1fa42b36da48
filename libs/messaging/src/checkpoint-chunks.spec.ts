import { CheckpointChunk, CheckpointManifest, chunkKey, StateCheckpoint } from '@switchyard/contracts';
import { CheckpointAssembler, splitCheckpoint } from './checkpoint-chunks';

const covers = [{ topic: 'switchyard.joined', partition: 3, offset: '1200' }];

/** A checkpoint of `deployments` deployments, each with a few hash kinds of `fields` fields (some large, some not ASCII). */
function checkpoint(deployments: number, fields: number): StateCheckpoint {
  const hashes = (d: number): StateCheckpoint['deployments'][string] => ({
    stats: { ttlMs: 0, fields: Object.fromEntries(Array.from({ length: fields }, (_, i) => [`v${i % 7}:cell-${d}-${i}`, String(i * 0.125)])) },
    // A kind the restore knows nothing of: chunking is generic over kinds.
    'paired-cells': { ttlMs: 90000, fields: Object.fromEntries(Array.from({ length: fields }, (_, i) => [`unit-é-${i}`, `${i}|${'ß'.repeat(i % 40)}`])) },
    positions: { ttlMs: 0, fields: { '0': String(d), '1': String(d + 1) } },
  });
  return {
    store: 'statistics',
    takenAt: '2026-12-07T08:00:00.000Z',
    covers,
    deployments: Object.fromEntries(Array.from({ length: deployments }, (_, d) => [`dep-${d}`, hashes(d)])),
  };
}

function manifestOf(value: StateCheckpoint, id: string, chunks: CheckpointChunk[], previous?: CheckpointManifest): CheckpointManifest {
  return {
    store: value.store,
    id,
    takenAt: value.takenAt,
    covers: value.covers,
    chunks: chunks.length,
    previous: previous && { id: previous.id, takenAt: previous.takenAt, covers: previous.covers, chunks: previous.chunks },
  };
}

/** An assembler fed the chunks and then the manifest of each checkpoint, in order. */
function assembled(...written: { value: StateCheckpoint; id: string; chunks: CheckpointChunk[]; manifest: CheckpointManifest }[]): CheckpointAssembler {
  const assembler = new CheckpointAssembler('statistics');
  for (const { id, chunks, manifest } of written) {
    for (const chunk of chunks) assembler.addChunk(chunkKey('statistics', id, chunk.index), chunk);
    assembler.addManifest(manifest);
  }
  return assembler;
}

function written(value: StateCheckpoint, id: string, maxBytes: number, previous?: CheckpointManifest) {
  const chunks = splitCheckpoint(value, id, maxBytes);
  return { value, id, chunks, manifest: manifestOf(value, id, chunks, previous) };
}

describe(splitCheckpoint.name, () => {
  it('splits a checkpoint into chunks no larger than the limit that assemble to it exactly, a large hash spread over several', () => {
    const value = checkpoint(5, 300);
    const maxBytes = 4096;
    const one = written(value, '00000000000000a1', maxBytes);
    const total = Buffer.byteLength(JSON.stringify(value.deployments));
    expect(one.chunks.length).toBeGreaterThanOrEqual(Math.ceil(total / maxBytes));
    for (const chunk of one.chunks) expect(Buffer.byteLength(JSON.stringify(chunk))).toBeLessThanOrEqual(maxBytes);
    expect(one.chunks.map((c) => c.index)).toEqual(one.chunks.map((_, i) => i));
    // A hash of more fields than one chunk holds is in parts in several chunks.
    expect(one.chunks.filter((c) => c.hashes.some((h) => h.deployment === 'dep-0' && h.kind === 'stats')).length).toBeGreaterThan(1);
    expect(assembled(one).found()).toEqual({ outcome: 'restored', checkpoint: value, set: one.manifest });
  });

  it('writes a small checkpoint, or one of no deployments, as one chunk', () => {
    for (const value of [checkpoint(2, 3), { ...checkpoint(0, 0), deployments: {} }]) {
      const one = written(value, '00000000000000b2', 1024 * 1024);
      expect(one.chunks).toHaveLength(1);
      expect(assembled(one).found()).toMatchObject({ outcome: 'restored', checkpoint: value });
    }
  });

  it('keeps a hash with no fields', () => {
    const value: StateCheckpoint = { ...checkpoint(0, 0), deployments: { solo: { arms: { ttlMs: 5, fields: {} } } } };
    expect(assembled(written(value, '00000000000000b3', 200)).found()).toMatchObject({ outcome: 'restored', checkpoint: value });
  });

  it('refuses a field larger than a chunk', () => {
    const value: StateCheckpoint = { ...checkpoint(0, 0), deployments: { solo: { stats: { ttlMs: 0, fields: { big: 'x'.repeat(5000) } } } } };
    expect(() => splitCheckpoint(value, '00000000000000c4', 4096)).toThrow(/does not fit/);
  });
});

describe(CheckpointAssembler.name, () => {
  const older = written(checkpoint(3, 50), '0000000000000001', 2048);
  const newer = written({ ...checkpoint(3, 60), takenAt: '2026-12-07T08:01:00.000Z' }, '0000000000000002', 2048, older.manifest);

  it('answers the newest complete checkpoint', () => {
    expect(newer.chunks.length).toBeGreaterThan(1);
    expect(assembled(older, newer).found()).toMatchObject({ outcome: 'restored', checkpoint: newer.value });
  });

  it('falls back to the checkpoint the newest manifest replaced when a chunk of the newest is missing, saying which', () => {
    // Compaction removed the older manifest: the newer one names it.
    const assembler = assembled({ ...older, manifest: newer.manifest }, { ...newer, chunks: newer.chunks.slice(1) });
    expect(assembler.found()).toMatchObject({ outcome: 'previous', checkpoint: older.value, problem: expect.stringMatching(/chunk 0 of the \d+ .* missing/) });
  });

  it('falls back to an earlier manifest still on the topic', () => {
    const unnamed = { ...newer, manifest: { ...newer.manifest, previous: undefined } };
    const assembler = assembled(older, { ...unnamed, chunks: unnamed.chunks.slice(0, -1) });
    expect(assembler.found()).toMatchObject({ outcome: 'previous', checkpoint: older.value });
  });

  it('finds no checkpoint when no set is complete, saying why', () => {
    const assembler = assembled(older, newer);
    assembler.dropChunk(chunkKey('statistics', newer.id, 1));
    assembler.dropChunk(chunkKey('statistics', older.id, 0));
    expect(assembler.found()).toEqual({ outcome: 'incomplete', problem: expect.stringMatching(/chunk 1 .* 0000000000000002 .* missing/) });
  });

  it('does not take a chunk of another checkpoint under a key', () => {
    const assembler = assembled(newer);
    assembler.addChunk(chunkKey('statistics', newer.id, 0), { ...newer.chunks[0], id: older.id });
    expect(assembler.found().outcome).toBe('incomplete');
  });

  it('forgets every checkpoint at a tombstone on the manifest, and lists the chunk keys on the topic by checkpoint', () => {
    const assembler = assembled(older, newer);
    expect(new Map([...assembler.chunkKeysById()].map(([id, keys]) => [id, keys.length]))).toEqual(
      new Map([
        [older.id, older.chunks.length],
        [newer.id, newer.chunks.length],
      ]),
    );
    assembler.forgetManifests();
    expect(assembler.found()).toEqual({ outcome: 'none' });
  });
});
