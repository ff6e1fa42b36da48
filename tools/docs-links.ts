import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_\- ]/gu, '')
    .replace(/ /g, '-');
}

/** The markdown outside fenced code blocks: links and headings in code are not links or headings. */
function prose(markdown: string): string {
  return markdown.replace(/^```[^\n]*\n[\s\S]*?^```[^\n]*$/gm, '');
}

/** Heading anchors, and explicit ones (`<a id="…">`, which GitHub keeps) for a place that is no heading. */
export function anchorsOf(markdown: string): Set<string> {
  const text = prose(markdown);
  const headings = [...text.matchAll(/^#{1,6} (.+)$/gm)].map((match) => headingAnchor(match[1]));
  const explicit = [...text.matchAll(/<a (?:id|name)="([^"]+)"><\/a>/g)].map((match) => match[1]);
  return new Set([...headings, ...explicit]);
}

/** Every relative link of `file` whose target file or heading does not exist, as `file: target`. */
export function brokenLinks(root: string, file: string): string[] {
  const markdown = readFileSync(join(root, file), 'utf8');
  const broken: string[] = [];
  for (const [, target] of prose(markdown).matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/i.test(target)) continue;
    const [path, anchor] = target.split('#');
    const resolved = path ? join(dirname(join(root, file)), path) : join(root, file);
    const ok = existsSync(resolved) && (!anchor || !resolved.endsWith('.md') || anchorsOf(readFileSync(resolved, 'utf8')).has(anchor));
    if (!ok) broken.push(`${file}: ${target}`);
  }
  return broken;
}

/** The README, every page under docs/, and each app's and library's README, relative to `root`. */
export function documentationFiles(root: string): string[] {
  const pages = (dir: string): string[] =>
    readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? pages(join(dir, entry.name)) : entry.name.endsWith('.md') ? [join(dir, entry.name)] : [],
    );
  const readmes = ['apps', 'libs'].flatMap((dir) =>
    readdirSync(join(root, dir))
      .map((name) => join(dir, name, 'README.md'))
      .filter((file) => existsSync(join(root, file))),
  );
  return ['README.md', 'CHANGELOG.md', ...pages('docs'), ...readmes].map((file) => relative(root, join(root, file)));
}
