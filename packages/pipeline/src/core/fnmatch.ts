// Package name globs as conda-forge's tools match them: the owners allow-list and the mirror's --package filters.
/**
 * Python's fnmatch.fnmatchcase as a RegExp (what conda-forge's tools apply to the allow-list): `*` any run, `?` one
 * character, `[seq]` / `[!seq]` a class; everything else literal, case-sensitive, the whole name.
 */
export function fnmatchRegExp(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      let j = i + 1;
      if (pattern[j] === '!') j++;
      if (pattern[j] === ']') j++;
      while (j < pattern.length && pattern[j] !== ']') j++;
      if (j >= pattern.length) {
        out += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, j).replace(/\\/g, '\\\\').replace(/\^/g, '\\^');
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      out += `[${body}]`;
      i = j;
    } else out += c.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${out}$`, 's');
}
