/**
 * Redis keys of the waitlist. Those under the read model's prefix (`<ns>:m:`) are rebuilt from
 * MongoDB with the rest of the read model (see waitlist.sequence.ts).
 */
export function waitlistKeys(namespace: string, modelPrefix: string) {
  const prefix = `${modelPrefix}wl`;
  return {
    /** The last ticket number issued (INCR). */
    sequence: `${prefix}:seq`,
    /** Hash: normalised email → ticket. What makes joining idempotent without a MongoDB read. */
    emails: `${prefix}:emails`,
    /** Hash: normalised email → the entry's details (ticket, username, username key), JSON. */
    details: `${prefix}:details`,
    /** Hash: username key → normalised email of the waiting entry that asked for it. */
    usernames: `${prefix}:usernames`,
    /** Set: normalised emails of the entries whose accounts exist. */
    completed: `${prefix}:completed`,
    /** Mirror of the durable watermark `admittedThrough` (only ever raised). */
    admittedThrough: `${prefix}:admitted`,
    /** Set for a minute after a ticket mail to this address, so repeat joins cannot spam it. */
    mailedRecently: (email: string) => `${namespace}:waitlist:mailed:${email}`,
    /** Lease names (see infra/lock.ts). */
    tickLease: 'waitlist:tick',
    settingsLock: 'waitlist:settings',
  };
}
export type WaitlistKeys = ReturnType<typeof waitlistKeys>;
