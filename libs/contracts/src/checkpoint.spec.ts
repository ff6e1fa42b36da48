import { parseAndValidate } from './validation';
import { CheckpointChunk, CheckpointManifest, chunkProblem } from './checkpoint';

const covers = [{ topic: 'switchyard.joined', partition: 0, offset: '42' }];
const manifest = { store: 'statistics', id: '0123456789abcdef', takenAt: '2026-12-07T08:00:00.000Z', covers, chunks: 2 };
const chunk = {
  store: 'statistics',
  id: '0123456789abcdef',
  index: 1,
  hashes: [
    { deployment: 'churn', kind: 'stats', ttlMs: 0, fields: { 'v1:count': '3', 'v1:sum': '1.5' } },
    { deployment: 'churn', kind: 'positions', ttlMs: 1000, fields: { '0': '41' } },
  ],
};
const checkManifest = (value: unknown) => {
  const parsed = parseAndValidate(CheckpointManifest, JSON.stringify(value));
  return parsed.ok ? 'ok' : parsed.problems.join('; ');
};
const checkChunk = (value: unknown) => {
  const parsed = parseAndValidate(CheckpointChunk, JSON.stringify(value));
  return parsed.ok ? (chunkProblem(parsed.value) ?? 'ok') : parsed.problems.join('; ');
};

describe('checkpoint records', () => {
  it('takes a manifest naming its chunks, the offsets they cover and the checkpoint before it', () => {
    expect(checkManifest(manifest)).toBe('ok');
    expect(checkManifest({ ...manifest, previous: { id: 'fedcba9876543210', takenAt: manifest.takenAt, covers: [], chunks: 1 } })).toBe('ok');
  });

  it('refuses a manifest a restore could not trust, saying why', () => {
    expect(checkManifest({ ...manifest, store: 'joins' })).toMatch(/store/);
    expect(checkManifest({ ...manifest, id: 'x' })).toMatch(/id/);
    expect(checkManifest({ ...manifest, chunks: 0 })).toMatch(/chunks/);
    expect(checkManifest({ ...manifest, covers: [{ topic: 'x', partition: -1, offset: '1' }] })).toMatch(/partition/);
    expect(checkManifest({ ...manifest, covers: [{ topic: 'x', partition: 0, offset: '01' }] })).toMatch(/offset/);
    expect(checkManifest({ ...manifest, previous: { id: manifest.id, takenAt: manifest.takenAt, covers: [], chunks: -1 } })).toMatch(/chunks/);
  });

  it('takes a chunk of hashes (or parts of them) with string fields', () => {
    expect(checkChunk(chunk)).toBe('ok');
    expect(checkChunk({ ...chunk, hashes: [] })).toBe('ok');
  });

  it('refuses a chunk whose hashes a restore could not write back, saying why', () => {
    const hash = chunk.hashes[0];
    expect(checkChunk({ ...chunk, index: -1 })).toMatch(/index/);
    expect(checkChunk({ ...chunk, hashes: [{ ...hash, deployment: 'Not A Name' }] })).toMatch(/not a deployment name/);
    expect(checkChunk({ ...chunk, hashes: [{ ...hash, kind: 'stats:x' }] })).toMatch(/not a hash kind/);
    expect(checkChunk({ ...chunk, hashes: [{ ...hash, ttlMs: -1 }] })).toMatch(/ttlMs/);
    expect(checkChunk({ ...chunk, hashes: [{ ...hash, fields: { a: 1 } }] })).toMatch(/must be strings/);
    expect(checkChunk({ ...chunk, hashes: [[]] })).toMatch(/must be an object/);
  });
});
