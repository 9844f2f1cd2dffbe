// Writes an htpasswd file (bcrypt, as distribution's htpasswd auth requires) for the test registry.
import { writeFile } from 'node:fs/promises';
import bcrypt from 'bcryptjs';

/** users: name -> password. Cost 5 keeps tests fast; distribution accepts any bcrypt cost >= 4. */
export async function writeHtpasswd(file: string, users: Record<string, string>): Promise<void> {
  const lines = Object.entries(users).map(([user, password]) => {
    if (user.includes(':')) throw new Error(`htpasswd user names cannot contain ':' (${user})`);
    return `${user}:${bcrypt.hashSync(password, 5)}`;
  });
  await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
}
