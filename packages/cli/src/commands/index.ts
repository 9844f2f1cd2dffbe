// Every command, in the order `oci-channel --help` lists them.
import type { Command } from './command.ts';
import { demoCommand } from './demo.ts';
import { downloadCommand } from './download.ts';
import { gcCommand } from './gc.ts';
import { mirrorCommand } from './mirror.ts';
import { labelCommand } from './label.ts';
import { promoteCommand, validateCommand } from './promotion.ts';
import { reindexCommand } from './reindex.ts';
import { uploadCommand } from './upload.ts';

export type { Command, CommandContext } from './command.ts';

export const COMMANDS: readonly Command[] = [uploadCommand, validateCommand, promoteCommand, reindexCommand, labelCommand, downloadCommand, gcCommand, mirrorCommand, demoCommand];
