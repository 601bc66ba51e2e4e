import { describe, expect, it } from 'vitest';
import { createTokenService } from '../src/modules/auth/auth.tokens.js';

describe('tokens', () => {
  const tokens = createTokenService({
    secret: new TextEncoder().encode('a test secret of at least thirty-two characters'),
  });

  it('refuses a token it verified before once it has expired', async () => {
    // Expiry is in whole seconds: a token of 1 s signed late in a second lives only what is
    // left of that second. One of 2 s lives at least a second, then is waited out.
    const { token, expiresAt } = await tokens.sign('session', 'subject-1', 2);
    expect((await tokens.verify('session', token)).subject).toBe('subject-1');
    expect((await tokens.verify('session', token)).subject).toBe('subject-1');
    await new Promise((resolve) => setTimeout(resolve, expiresAt.getTime() - Date.now() + 100));
    await expect(tokens.verify('session', token)).rejects.toMatchObject({
      message: 'Your session has expired. Sign in again.',
      code: 'UNAUTHENTICATED',
    });
  });

  it('never accepts a verified token as another kind', async () => {
    const { token } = await tokens.sign('session', 'subject-2', 60);
    await tokens.verify('session', token);
    await expect(tokens.verify('waitlist-ticket', token)).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
    });
  });
});
