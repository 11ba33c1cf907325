/** The command as typed (`medface` plus its arguments, quoted where needed), recorded so a run can be repeated. */
export function commandLine(argv: readonly string[] = process.argv.slice(2)): string {
  return ['medface', ...argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))].join(' ');
}
