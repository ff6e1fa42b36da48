import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brokenLinks, documentationFiles, headingAnchor } from './docs-links';

describe(headingAnchor.name, () => {
  it('makes the anchor GitHub makes', () => {
    expect(headingAnchor('Guardrails: the rollout controller')).toBe('guardrails-the-rollout-controller');
    expect(headingAnchor('The `switchyard` command line')).toBe('the-switchyard-command-line');
    expect(headingAnchor('Latest full run (issue #18), on a quiet machine')).toBe('latest-full-run-issue-18-on-a-quiet-machine');
  });
});

describe(brokenLinks.name, () => {
  const root = mkdtempSync(join(tmpdir(), 'docs-links-'));
  mkdirSync(join(root, 'docs'));
  writeFileSync(join(root, 'docs', 'a.md'), '# A\n\n## Some part\n\n- <a id="a-place"></a>**A place**\n\n```\n## not a heading\n[in code](gone.md)\n```\n');
  writeFileSync(
    join(root, 'README.md'),
    '[ok](docs/a.md#some-part) [place](docs/a.md#a-place) [self](#top) [gone](docs/b.md) [no heading](docs/a.md#not-a-heading) [web](https://example.com)\n\n# Top\n',
  );

  it('names the links whose file or heading is missing, and nothing else', () => {
    expect(brokenLinks(root, 'README.md')).toEqual(['README.md: docs/b.md', 'README.md: docs/a.md#not-a-heading']);
    expect(brokenLinks(root, 'docs/a.md')).toEqual([]);
  });
});

describe('docs links resolve', () => {
  const root = join(__dirname, '..');

  it.each(documentationFiles(root))('%s', (file) => {
    expect(brokenLinks(root, file)).toEqual([]);
  });
});
