/** Redis keys of the waitlist; everything here is rebuilt from MongoDB when lost. */
export function waitlistKeys(namespace: string) {
  const prefix = `${namespace}:waitlist`;
  return {
    /** The last ticket number issued (INCR). Its absence means "rebuild from MongoDB first". */
    sequence: `${prefix}:seq`,
    /** Hash: normalised email → ticket. What makes joining idempotent without a MongoDB read. */
    emails: `${prefix}:emails`,
    /** Hash: username key → normalised email of the waiting entry that asked for it. */
    usernames: `${prefix}:usernames`,
    /** Mirror of the durable watermark `admittedThrough` (only ever raised). */
    admittedThrough: `${prefix}:admitted`,
    /** Set for a minute after a ticket mail to this address, so repeat joins cannot spam it. */
    mailedRecently: (email: string) => `${prefix}:mailed:${email}`,
    /** Lease names (see infra/lock.ts). */
    tickLease: 'waitlist:tick',
    rebuildLock: 'waitlist:rebuild',
    settingsLock: 'waitlist:settings',
  };
}
export type WaitlistKeys = ReturnType<typeof waitlistKeys>;
