// Checks of a step's options made before anything is opened, read or written. A mistake here would lose data
// (promote deleting the only copy of a package because staging and production are one place) or record a
// wrong verdict (an owners directory that does not exist fails every ownership check).
import { statSync } from 'node:fs';
import { formatLocation, locationOverlap, parseLocation, type Location } from '@oci-channel/oci';
import { OptionsError } from '../errors.ts';
import type { ChannelInput } from '../types.ts';

/** The location of a channel given as a string or an opened store. */
export function channelLocation(input: ChannelInput): Location {
  return typeof input === 'string' ? parseLocation(input) : input.location;
}

/**
 * Refuses a staging and a production channel that are the same place or where one lies inside the other, after
 * normalisation (host case, default port, trailing slash, `.`/`..`, percent-encoding, symlinks of a layout).
 */
export function assertSeparateChannels(staging: ChannelInput, production: ChannelInput): void {
  const a = channelLocation(staging);
  const b = channelLocation(production);
  const overlap = locationOverlap(a, b);
  if (!overlap) return;
  const both = `staging ${formatLocation(a)} and production ${formatLocation(b)}`;
  const how =
    overlap === 'same'
      ? 'are the same channel'
      : overlap === 'first-contains-second'
        ? 'overlap: production lies inside staging'
        : 'overlap: staging lies inside production';
  throw new OptionsError(`${both} ${how}; give two separate locations (e.g. .../staging and .../channel): nothing was read or written`);
}

/** Refuses an owners checkout that is not a directory, before any verdict is recorded. */
export function assertOwnersDirectory(owners: string | undefined): void {
  if (owners === undefined) return;
  let isDirectory = false;
  try {
    isDirectory = statSync(owners).isDirectory();
  } catch {
    // reported below
  }
  if (!isDirectory) {
    throw new OptionsError(`owners ${JSON.stringify(owners)} is not a directory: give a feedstock-outputs checkout (outputs/<c1>/<c2>/<c3>/<name>.json); nothing was recorded`);
  }
}
