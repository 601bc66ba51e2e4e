/**
 * Redis keys of the waitlist. Those under the read model's prefix (`<ns>:m:`) are rebuilt from
 * MongoDB with the rest of the read model (see waitlist.sequence.ts).
 *
 * The waitlist is one entity: joining draws a number and records the email and the username in
 * one script, so its read-model keys share one hash tag, `{waitlist}`, and one Redis Cluster
 * slot (infra/slots.ts).
 */
export function waitlistKeys(namespace: string, modelPrefix: string) {
  const prefix = `${modelPrefix}wl:{waitlist}`;
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
    /**
     * Set for a minute after a ticket mail to this address, so repeat joins cannot spam it
     * (one key per address, only ever used alone).
     */
    mailedRecently: (email: string) => `${namespace}:waitlist:mailed:${email}`,
    /** Lease names (see infra/lock.ts). */
    tickLease: 'waitlist:tick',
    settingsLock: 'waitlist:settings',
  };
}
export type WaitlistKeys = ReturnType<typeof waitlistKeys>;
