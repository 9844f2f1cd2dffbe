// unbzip2-stream ships no types: a factory of a (legacy, through) duplex stream that decodes bzip2.
declare module 'unbzip2-stream' {
  import type { Duplex } from 'node:stream';
  const unbzip2Stream: () => Duplex;
  export default unbzip2Stream;
}
