import { CheckpointChunk, CheckpointedStore, CheckpointManifest, CheckpointSet, chunkKey, ChunkedHash, StateCheckpoint } from '@switchyard/contracts';

/** Bytes of a value's JSON in UTF-8, as the record carries it. */
const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));

/**
 * A checkpoint's hashes as chunks whose JSON is at most `maxBytes` each, in order: whole
 * hashes while they fit, a hash too large for what is left of a chunk spread over the
 * next ones field by field (a restore merges its parts again). Generic over hash kinds: a
 * kind added to a store needs nothing here. Throws if a single field (with its hash's
 * header) is larger than a chunk.
 */
export function splitCheckpoint(checkpoint: StateCheckpoint, id: string, maxBytes: number): CheckpointChunk[] {
  const { store } = checkpoint;
  const chunks: CheckpointChunk[] = [];
  // The chunk's JSON is its envelope, then each part's header ({…, "fields":{}}) and comma, then
  // each field's `"key":"value",`: the sum bounds its length from above.
  const envelope = () => jsonBytes({ store, id, index: chunks.length, hashes: [] });
  let current: ChunkedHash[] = [];
  let size = envelope();
  const close = () => {
    chunks.push({ store, id, index: chunks.length, hashes: current });
    current = [];
    size = envelope();
  };
  for (const [deployment, hashes] of Object.entries(checkpoint.deployments)) {
    for (const [kind, { ttlMs, fields }] of Object.entries(hashes)) {
      const header = jsonBytes({ deployment, kind, ttlMs, fields: {} }) + 1;
      let part: ChunkedHash;
      let partFields = 0;
      const open = () => {
        if (size + header > maxBytes && current.length) close();
        part = { deployment, kind, ttlMs, fields: {} };
        partFields = 0;
        current.push(part);
        size += header;
      };
      open();
      for (const [field, value] of Object.entries(fields)) {
        const cost = jsonBytes(field) + jsonBytes(value) + 2;
        if (size + cost > maxBytes) {
          // A part with no field yet goes to the next chunk whole.
          if (!partFields) {
            current.pop();
            size -= header;
          }
          if (current.length) close();
          open();
          if (size + cost > maxBytes) throw new Error(`a field of ${deployment}'s ${kind} hash does not fit a checkpoint chunk of ${maxBytes} bytes`);
        }
        part!.fields[field] = value;
        partFields++;
        size += cost;
      }
    }
  }
  if (current.length || !chunks.length) close();
  return chunks;
}

/** What a read of the checkpoints topic found for a store. */
export type CheckpointFound =
  /** The newest manifest's checkpoint (`set`), complete. */
  | { outcome: 'restored'; checkpoint: StateCheckpoint; set: CheckpointSet }
  /** The newest manifest's checkpoint is not complete (`problem`): an earlier complete one (`set`). */
  | { outcome: 'previous'; checkpoint: StateCheckpoint; set: CheckpointSet; problem: string }
  /** A manifest, but no complete checkpoint (`problem`, the newest's): the topics are read whole. */
  | { outcome: 'incomplete'; problem: string }
  /** No manifest (never written, or a tombstone forgot it). */
  | { outcome: 'none' };

/**
 * Gathers one store's records of the checkpoints topic (in each partition's order) and
 * answers the newest checkpoint it can trust: one whose manifest is there and every chunk
 * the manifest names is there with its id. Manifests share one key, hence one partition,
 * so their order is the order they were written; chunk keys are unique, so the order of
 * the other partitions does not matter. Without I/O: the reader feeds it.
 */
export class CheckpointAssembler {
  private manifests: CheckpointManifest[] = [];
  private readonly chunks = new Map<string, CheckpointChunk>();

  constructor(readonly store: CheckpointedStore) {}

  addManifest(manifest: CheckpointManifest): void {
    this.manifests.push(manifest);
  }

  /** A tombstone on the manifest key: every checkpoint before it is forgotten. */
  forgetManifests(): void {
    this.manifests = [];
  }

  addChunk(key: string, chunk: CheckpointChunk): void {
    this.chunks.set(key, chunk);
  }

  /** A tombstone on a chunk key. */
  dropChunk(key: string): void {
    this.chunks.delete(key);
  }

  /** The chunk keys on the topic (tombstoned ones left out), by checkpoint id. */
  chunkKeysById(): Map<string, string[]> {
    const byId = new Map<string, string[]>();
    for (const [key, { id }] of this.chunks) byId.set(id, [...(byId.get(id) ?? []), key]);
    return byId;
  }

  /** The newest manifest whose set is complete, each manifest tried before the one it names `previous`. */
  found(): CheckpointFound {
    let problem: string | undefined;
    const tried = new Set<string>();
    for (const manifest of [...this.manifests].reverse()) {
      for (const set of manifest.previous ? [manifest, manifest.previous] : [manifest]) {
        if (tried.has(set.id)) continue;
        tried.add(set.id);
        const assembled = this.assemble(set);
        if (typeof assembled !== 'string')
          return problem === undefined ? { outcome: 'restored', checkpoint: assembled, set } : { outcome: 'previous', checkpoint: assembled, problem, set };
        problem ??= assembled;
      }
    }
    return problem === undefined ? { outcome: 'none' } : { outcome: 'incomplete', problem };
  }

  /** The checkpoint of `set`, its hashes' parts merged again, or why it is not complete. */
  private assemble(set: CheckpointSet): StateCheckpoint | string {
    const deployments: StateCheckpoint['deployments'] = {};
    for (let index = 0; index < set.chunks; index++) {
      const chunk = this.chunks.get(chunkKey(this.store, set.id, index));
      if (!chunk || chunk.id !== set.id || chunk.index !== index)
        return `chunk ${index} of the ${set.chunks} of the checkpoint ${set.id} taken at ${set.takenAt} is missing`;
      for (const { deployment, kind, ttlMs, fields } of chunk.hashes) {
        const hashes = (deployments[deployment] ??= {});
        const hash = (hashes[kind] ??= { ttlMs, fields: {} });
        Object.assign(hash.fields, fields);
      }
    }
    return { store: this.store, takenAt: set.takenAt, covers: set.covers, deployments };
  }
}
