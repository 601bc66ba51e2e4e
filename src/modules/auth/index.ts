/** The auth module's face: passwords and tokens, for the modules that sign people in. */
export {
  assertStrongPassword,
  burnPasswordCheck,
  hashPassword,
  verifyPassword,
} from './auth.password.js';
export { createTokenService, type TokenKind, type TokenService } from './auth.tokens.js';
