import { createHash } from 'node:crypto';
import { binarySlices, OipWireTensor, withDecodedData } from './binary';
import { encodeRaw } from './grpc';
import { oipStringify } from './json';

/** Largest binary output decoded into an event (the one the reward reads): well under Kafka's 1 MiB record limit as JSON. */
export const MAX_EVENT_DECODED_BYTES = 64 * 1024;

/**
 * A model's outputs as events carry them (prediction and shadow-request events go to
 * Kafka, whose records are 1 MiB at most): of the tensors, the output the reward reads
 * (`scored`: a tensor name, or an index; the first when undefined, as the reward's default
 * path reads it) with its data, up to MAX_EVENT_DECODED_BYTES (binary data decoded), and
 * any other tensor past that size, binary or JSON, as its name, datatype, shape and
 * parameters with `binary_data_size` and `binary_data_sha256` (hex SHA-256 of its bytes as
 * the binary extension lays them out), so equal tensors compare equal however they came.
 * Smaller JSON tensors, and outputs that are no tensor list (a json variant's), as they are.
 */
export function eventOutputs(outputs: unknown, binary: Buffer | undefined, scored = '0'): unknown {
  if (!Array.isArray(outputs)) return outputs;
  const tensors = outputs as OipWireTensor[];
  const slices = binary ? binarySlices(tensors, binary) : [];
  let summarized = false;
  const carried = tensors.map((tensor, i) => {
    let bytes = slices[i];
    if (!bytes && !largeJsonData(tensor)) return tensor;
    const isScored = tensor.name === scored || String(i) === scored;
    if (bytes && isScored && bytes.length <= MAX_EVENT_DECODED_BYTES) return withDecodedData(tensor, bytes);
    if (!bytes) {
      bytes = rawBytes(tensor);
      if (!bytes) return tensor;
    }
    summarized = true;
    const binary_data_sha256 = createHash('sha256').update(bytes).digest('hex');
    const { parameters } = tensor;
    return {
      name: tensor.name,
      datatype: tensor.datatype,
      shape: tensor.shape,
      parameters: { ...parameters, binary_data_size: bytes.length, binary_data_sha256 },
    };
  });
  return binary || summarized ? carried : outputs;
}

/**
 * Whether a JSON tensor's data is past MAX_EVENT_DECODED_BYTES as JSON: counted by its
 * elements first (each takes 2 characters at least, a digit and a comma), written out only
 * when that cannot tell, so a small request pays nothing.
 */
function largeJsonData(tensor: OipWireTensor): boolean {
  const data = (tensor as { data?: unknown }).data;
  if (!Array.isArray(data)) return false;
  const flat = Array.isArray(data[0]) ? data.flat(Infinity) : data;
  if (flat.length * 2 > MAX_EVENT_DECODED_BYTES) return true;
  if (flat.length <= 1024 && tensor.datatype !== 'BYTES') return false;
  return oipStringify(flat).length > MAX_EVENT_DECODED_BYTES;
}

/** A JSON tensor's data as the binary extension lays it out, for its digest; undefined when it is not data of its datatype. */
function rawBytes(tensor: OipWireTensor): Buffer | undefined {
  try {
    return encodeRaw(tensor.datatype, tensor.data ?? []);
  } catch {
    return undefined;
  }
}

/** The tensor the reward's `outputPath` reads first: its first segment (a name or an index); the first tensor without a path. */
export function scoredOutput(outputPath: string | undefined): string {
  return outputPath?.split('.')[0] || '0';
}
