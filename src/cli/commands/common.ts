// Small pieces shared by the command modules: option parsers and the --wait options.
import { Command, InvalidArgumentError } from 'commander';

/** Repeatable option: every occurrence is kept, in order. */
export const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

export function int(v: string): number {
  if (!/^-?\d+$/.test(v.trim())) throw new InvalidArgumentError('not an integer.');
  return Number(v);
}

export function positiveNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('not a positive number.');
  return n;
}

/** --wait and its two settings, for commands that start a long operation. */
export function withWait(cmd: Command, what: string): Command {
  return cmd
    .option('--wait', `wait until ${what}, showing the progress (status, latest event, elapsed time)`)
    .option('--wait-timeout <seconds>', 'with --wait: give up after this many seconds (default: never)', positiveNumber)
    .option('--poll-interval <seconds>', 'with --wait: seconds between status checks', positiveNumber, 2);
}

/** `<path>`-style path segment. */
export const seg = (s: string) => encodeURIComponent(s);
