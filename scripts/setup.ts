#!/usr/bin/env tsx
// `npm run setup`: installs the real components the suites use, into a cache, idempotently.
console.log("setup: nothing to install yet");
