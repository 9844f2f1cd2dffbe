// Why an upload's identity was refused: one line for people, never the token itself.

/** An identity token (or the identity options) refused; the message says why and what to do. */
export class IdentityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdentityError';
  }
}
