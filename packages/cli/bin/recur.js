#!/usr/bin/env node
// The `recur` command. A checked-in shim, so that package managers can link the bin of a workspace
// checkout before `dist/` is built (pnpm warns on a bin target that does not exist yet).
import '../dist/bin.js';
