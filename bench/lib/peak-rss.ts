// The peak resident set of this process. getrusage's maxRSS survives exec, so a worker spawned straight from a
// large Node process (no GNU time between them) would report its parent's; Linux's VmHWM belongs to this image.
import { readFileSync } from 'node:fs';

export function peakRssBytes(): number {
  try {
    const kib = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kib) return Number(kib) * 1024;
  } catch {
    // not Linux: getrusage is what there is
  }
  return process.resourceUsage().maxRSS * 1024;
}
