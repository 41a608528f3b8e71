import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Property tests run thousands of cases synchronously; on a shared 2-core machine a run that takes
    // 3 s alone can take 15 s under load. Performance is measured by `dpemu bench`, never by test timings.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
