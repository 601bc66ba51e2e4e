import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../', import.meta.url));

/** Lints `source` as if it were a file of the truths module. */
async function lintInTruthsModule(source: string) {
  // A real file, so that the type-aware lint finds it in the project.
  const file = path.join(root, `src/modules/truths/probe-${randomBytes(4).toString('hex')}.ts`);
  await writeFile(file, source);
  try {
    const [result] = await new ESLint({ cwd: root }).lintFiles([file]);
    return result!.messages;
  } finally {
    await rm(file, { force: true });
  }
}

describe('module boundaries', () => {
  it('fail the lint when one module imports another module’s model', async () => {
    const messages = await lintInTruthsModule(
      "import type { UserModel } from '../users/user.model.js';\nexport type Probe = UserModel;\n",
    );
    expect(messages.map((message) => message.ruleId)).toContain('no-restricted-imports');
  });

  it('let a module use another through its face', async () => {
    const messages = await lintInTruthsModule(
      "import type { UserRecord } from '../users/index.js';\nexport type Probe = UserRecord;\n",
    );
    expect(messages).toEqual([]);
  });
});
