/**
 * The CLI reference: one page per `recur` command, generated from the CLI's option table
 * (packages/cli/src/options.ts: OPTIONS and COMMANDS), the same table the parser and `--help` use.
 */
import {
  COMMAND_NAMES,
  COMMANDS,
  type CommandName,
  defaultOf,
  descriptionOf,
  type OptionSpec,
  optionsOf,
  TASKS,
} from '../../../packages/cli/src/options.js';

export interface Page {
  /** Path under the docs root, without '.md'. */
  path: string;
  title: string;
  markdown: string;
}

/** 'bench stream' → 'bench-stream'. */
export const commandSlug = (command: CommandName) => command.replace(/ /g, '-');

/** Markdown table cells: pipes and angle brackets escaped (Vue reads `<dir>` as a tag), line breaks flattened. */
const cell = (s: string) =>
  s.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\n/g, ' ');

function valueText(spec: OptionSpec): string {
  if (spec.kind === 'boolean')
    return spec.negatable ? `\`${spec.flag}\`, \`--no-${spec.flag.slice(2)}\`` : `\`${spec.flag}\``;
  return `\`${spec.flag} ${spec.value ?? `<${spec.kind}>`}\``;
}

function constraints(spec: OptionSpec): string {
  const out: string[] = [];
  if (spec.choices) out.push(`one of ${spec.choices.map((c) => `\`${c}\``).join(', ')}`);
  if (spec.min !== undefined) out.push(`${spec.exclusiveMin ? '>' : '≥'} ${spec.min}`);
  if (spec.max !== undefined) out.push(`≤ ${spec.max}`);
  if (spec.kind === 'int') out.push('integer');
  if (spec.tasks) out.push(`tasks: ${spec.tasks.join(', ')}`);
  return out.join('; ');
}

function shown(value: unknown): string {
  if (value === undefined) return '';
  return `\`${Array.isArray(value) ? value.join(',') : String(value)}\``;
}

/** The page of one command. */
export function commandPage(command: CommandName): Page {
  const spec = COMMANDS[command];
  const lines = [
    `# recur ${command}`,
    '',
    `${spec.summary[0]?.toUpperCase()}${spec.summary.slice(1)}.`,
    '',
    '```sh',
    `recur ${command}${spec.args ? ` ${spec.args}` : ''} [options]`,
    '```',
    '',
    '## Examples',
    '',
    '```sh',
    ...spec.examples,
    '```',
    '',
    '## Options',
    '',
  ];
  const groups = new Map<string, [string, OptionSpec][]>();
  for (const [key, opt] of optionsOf(command)) {
    groups.set(opt.group, [...(groups.get(opt.group) ?? []), [key, opt]]);
  }
  for (const [group, opts] of groups) {
    lines.push(`### ${group[0]?.toUpperCase()}${group.slice(1)}`, '');
    lines.push('| option | description | default | values |', '| --- | --- | --- | --- |');
    for (const [, opt] of opts) {
      lines.push(
        `| ${valueText(opt)} | ${cell(descriptionOf(opt, command))} | ${cell(shown(defaultOf(opt, command)))} | ${cell(constraints(opt))} |`,
      );
    }
    lines.push('');
  }
  if (spec.notes) lines.push('## Notes', '', cell(spec.notes), '');
  lines.push(
    '<small>Generated from the option table in `packages/cli/src/options.ts`, the table the parser and `--help` are built from.</small>',
    '',
  );
  return {
    path: `cli/${commandSlug(command)}`,
    title: `recur ${command}`,
    markdown: lines.join('\n'),
  };
}

/** Every command's page and the index that lists them. */
export function cliPages(): Page[] {
  const pages = COMMAND_NAMES.map(commandPage);
  const index = [
    '# CLI reference',
    '',
    'The `recur` command (package `@recur/cli`). From a clone, run it as `npx -y pnpm@10.34.9 recur <command>`; `recur <command> --help` prints the same options.',
    '',
    '| command | what it does |',
    '| --- | --- |',
    ...COMMAND_NAMES.map(
      (c) => `| [\`recur ${c}\`](./${commandSlug(c)}) | ${cell(COMMANDS[c].summary)} |`,
    ),
    '',
    `Tasks of \`recur train\`: ${TASKS.map((t) => `\`${t}\``).join(', ')}.`,
    '',
  ].join('\n');
  return [{ path: 'cli/index', title: 'CLI reference', markdown: index }, ...pages];
}
