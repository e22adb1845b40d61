/**
 * Global setup of the e2e project: fails loudly (never skips) when Docker or the test image is
 * missing, and tags this run's containers with a session id so that teardown removes exactly the
 * containers this run left behind (e.g. after a crashed worker), not those of a concurrent run.
 */
import { randomBytes } from 'node:crypto';

import { docker, removeAllTestContainers, TEST_IMAGE } from './fixtures/docker.js';

export default async function setup(): Promise<() => Promise<void>> {
  try {
    await docker(['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 20_000 });
  } catch (err) {
    throw new Error(
      'The e2e tests need a running Docker engine and root. Run `bash scripts/ensure-docker.sh` ' +
        `(or \`pnpm test\`, which does it) first.\n${String(err)}`,
    );
  }
  try {
    await docker(['image', 'inspect', '--format', '{{.Id}}', TEST_IMAGE]);
  } catch {
    throw new Error(
      `The e2e tests need the local image ${TEST_IMAGE}. Build it with \`bash scripts/build-test-image.sh\`.`,
    );
  }

  const session = process.env.FAULTLINE_TEST_SESSION ?? `${process.pid}-${randomBytes(4).toString('hex')}`;
  // Test workers are forked after global setup, so they inherit this.
  process.env.FAULTLINE_TEST_SESSION = session;

  return async () => {
    const removed = await removeAllTestContainers({ session });
    if (removed > 0) {
      process.stderr.write(`e2e teardown: removed ${removed} leftover test container(s)\n`);
    }
  };
}
