import { Command } from 'commander';
import { buildProgram } from './main';

const leaves = (command: Command): Command[] => (command.commands.length ? command.commands.flatMap(leaves) : [command]);

describe(buildProgram.name, () => {
  it('gives every command help with a description and an example', () => {
    const commands = leaves(buildProgram());
    expect(commands.map((c) => c.name())).toEqual(expect.arrayContaining(['deploy', 'diff', 'retry', 'delete', 'history', 'status', 'tail', 'replay']));
    for (const command of commands) {
      let help = '';
      command.configureOutput({ writeOut: (text) => (help += text) });
      command.outputHelp();
      expect({ command: command.name(), described: !!command.description(), example: /\nExamples?:\n {2}switchyard \S/.test(help) }).toEqual({
        command: command.name(),
        described: true,
        example: true,
      });
    }
  });
});
