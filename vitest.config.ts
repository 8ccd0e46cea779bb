import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Many tests wait on child processes, browsers and sockets rather than compute: one worker more than the
    // cores keeps them busy (on the 2-core reference machine the suite took 518 s with 2 workers, 326 s with 3).
    maxWorkers: '150%',
  },
});
