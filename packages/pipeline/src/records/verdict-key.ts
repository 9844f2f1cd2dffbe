// The verdict key: an HMAC-SHA256 secret only the channel admins hold (their validate and promote jobs).
// validate signs verdicts with it; promote trusts a recorded verdict only when it verifies. It comes from the
// `verdictKey` option or the OCI_CHANNEL_VERDICT_KEY environment variable, never from the command line, and
// is held in a private field so printing or serializing options, contexts or keys never shows it.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { OptionsError } from '../errors.ts';

export const VERDICT_KEY_ENV = 'OCI_CHANNEL_VERDICT_KEY';
/** Short keys are refused: a guessable key lets anyone with staging access sign a verdict. */
export const MIN_VERDICT_KEY_LENGTH = 32;
const PREFIX = 'hmac-sha256:';

export class VerdictKey {
  readonly #secret: Buffer;

  constructor(secret: string) {
    this.#secret = Buffer.from(secret, 'utf8');
  }

  /** `hmac-sha256:<hex>` over `bytes`. */
  sign(bytes: Uint8Array): string {
    return PREFIX + createHmac('sha256', this.#secret).update(bytes).digest('hex');
  }

  /** Constant-time check of a `hmac-sha256:<hex>` value over `bytes`. */
  verify(bytes: Uint8Array, mac: string): boolean {
    if (!mac.startsWith(PREFIX)) return false;
    const given = Buffer.from(mac.slice(PREFIX.length), 'hex');
    const wanted = createHmac('sha256', this.#secret).update(bytes).digest();
    return given.length === wanted.length && timingSafeEqual(given, wanted);
  }

  toJSON(): string {
    return '[verdict key]';
  }

  toString(): string {
    return '[verdict key]';
  }
}

/**
 * The key from `verdictKey` (when given, even empty: an explicit '' turns signing and trusting off) or else from
 * the environment; undefined when neither is set. Surrounding whitespace (a trailing newline from a secret
 * store) is ignored. A key shorter than MIN_VERDICT_KEY_LENGTH is refused with an error that never shows it.
 */
export function resolveVerdictKey(options: { verdictKey?: string }, env: NodeJS.ProcessEnv = process.env): VerdictKey | undefined {
  const fromOption = options.verdictKey !== undefined;
  const secret = (fromOption ? options.verdictKey : env[VERDICT_KEY_ENV])?.trim();
  if (!secret) return undefined;
  if (secret.length < MIN_VERDICT_KEY_LENGTH) {
    const where = fromOption ? 'the verdictKey option' : VERDICT_KEY_ENV;
    throw new OptionsError(`the verdict key in ${where} is shorter than ${MIN_VERDICT_KEY_LENGTH} characters; set a random one, e.g. from \`openssl rand -hex 32\``);
  }
  return new VerdictKey(secret);
}
