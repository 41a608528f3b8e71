/** dpemu's version (package.json's; a test holds them equal). Snapshots record it. */
export const VERSION = '0.1.0';
