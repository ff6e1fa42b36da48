import { CliError, EXIT } from './errors';
import { batches, parseJsonLines, parsePolicy, parseSpecText } from './inputs';

const usage = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return error instanceof CliError && error.exitCode === EXIT.usage ? error.message : `not a usage error: ${error}`;
  }
  return 'no error';
};

describe(parseSpecText.name, () => {
  it('reads YAML and JSON specs by their extension, and either without one', () => {
    expect(parseSpecText('strategy:\n  type: single\n  variant: v1\n', 'a.yaml')).toEqual({ strategy: { type: 'single', variant: 'v1' } });
    expect(parseSpecText('{"strategy": {"type": "single"}}', 'a.json')).toEqual({ strategy: { type: 'single' } });
    expect(parseSpecText('strategy: {type: single}', 'spec')).toEqual({ strategy: { type: 'single' } });
  });

  it('refuses what is not an object with exit code 2', () => {
    expect(usage(() => parseSpecText('variants: [\n', 'a.yml'))).toContain('a.yml is not a valid deployment spec (YAML:');
    expect(usage(() => parseSpecText('[1, 2]', 'a.json'))).toContain('the spec must be an object');
  });
});

describe(parseJsonLines.name, () => {
  it('skips blank lines and names the line that is not JSON', () => {
    expect(parseJsonLines('{"requestId":"a","label":1}\n\n{"requestId":"b","reward":0.5}\n', 'f')).toHaveLength(2);
    expect(usage(() => parseJsonLines('{"requestId":"a"}\nnope\n', 'labels.jsonl'))).toContain('labels.jsonl:2 is not JSON');
    expect(usage(() => parseJsonLines('\n', 'empty.jsonl'))).toContain('has no feedback records');
  });
});

describe(batches.name, () => {
  it('cuts into batches of at most the size', () => {
    expect(batches([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(
      batches(
        Array.from({ length: 2500 }, (_, i) => i),
        1000,
      ).map((b) => b.length),
    ).toEqual([1000, 1000, 500]);
  });
});

describe(parsePolicy.name, () => {
  it('takes a JSON object and refuses anything else with an example', () => {
    expect(parsePolicy('{"type":"single","variant":"v2"}')).toEqual({ type: 'single', variant: 'v2' });
    expect(usage(() => parsePolicy('single'))).toContain(`--policy '{"type":"single","variant":"v2"}'`);
    expect(usage(() => parsePolicy('@/no/such/file.json'))).toContain('cannot read /no/such/file.json');
  });
});
