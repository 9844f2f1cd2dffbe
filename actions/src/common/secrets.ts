// Masks secret inputs before anything else runs, so no later log line can reveal them.
import * as core from '@actions/core';

/** Raw value of an input straight from the environment (core.getInput trims; the secret may not be trimmed). */
function rawInput(name: string): string {
  return process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '';
}

/**
 * Registers every secret input with the runner's log masker, and the forms it travels in: trimmed, and the
 * Basic-auth encoding `base64(user:password)` for each username input paired with it.
 */
export function maskSecretInputs(secrets: Array<{ input: string; usernameInput?: string }>): void {
  const masked = new Set<string>();
  const mask = (value: string) => {
    if (value && !masked.has(value)) {
      masked.add(value);
      core.setSecret(value);
    }
  };
  for (const { input, usernameInput } of secrets) {
    const raw = rawInput(input);
    for (const value of [raw, raw.trim()]) {
      if (!value) continue;
      mask(value);
      const username = usernameInput ? rawInput(usernameInput).trim() || process.env.GITHUB_ACTOR || '' : '';
      if (username) mask(Buffer.from(`${username}:${value}`).toString('base64'));
    }
  }
}
