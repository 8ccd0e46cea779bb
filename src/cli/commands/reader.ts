/** CLI commands for this area; see src/cli/framework.ts for the conventions. */
import type { Command } from '../framework.js';

export const commands: Command[] = [];
