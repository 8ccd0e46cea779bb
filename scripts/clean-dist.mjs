#!/usr/bin/env node
// Removes dist/ before a build, so that a file whose source was deleted or moved is not left behind to be
// packed (npm pack ships what dist/ holds). Plain JavaScript with no dependency; portable where `rm -rf` is not.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

rmSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'dist'), { recursive: true, force: true });
