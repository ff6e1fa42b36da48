import { MAX_LABEL_BYTES } from '@switchyard/contracts';

/**
 * Records the live path dead-letters and every rebuild must skip (issue #26), the 8 000-deep
 * label first: deep nesting, numbers past a double, wrong types, a label over its size
 * limit, text that is not JSON and bytes that are not UTF-8. The hostile-history spec puts
 * them in each topic the join-state rebuild reads; the fault suite in every input topic of
 * a rebuild before each Redis wipe.
 */
export const HOSTILE: (string | Buffer)[] = [
  `{"requestId":"deep","reward":1,"label":${'['.repeat(8000)}${']'.repeat(8000)}}`,
  `{"requestId":"deep-object","label":${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}}`,
  '{"requestId":"huge","reward":1e400}',
  `{"requestId":"long-number","reward":-${'9'.repeat(400)}}`,
  '{"requestId":"wrong-type","reward":"NaN"}',
  '{"requestId":["wrong-type"],"label":{"__proto__":{"polluted":true}}}',
  '{"requestId":"nothing"}',
  `{"requestId":"over-limit","label":"${'x'.repeat(MAX_LABEL_BYTES)}"}`,
  'not json at all',
  '\u0000\u00ff\ufffd{[',
  // Not UTF-8: a lone continuation byte, an overlong encoding, a cut four-byte sequence.
  Buffer.from('fffe007b80c0afc328f09f98', 'hex'),
];

/** The key `sendEvents` gives a hostile record: what tells its DLQ records apart. */
export const HOSTILE_KEY = 'poison';
