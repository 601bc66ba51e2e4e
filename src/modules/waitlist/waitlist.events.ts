/**
 * Events of the waitlist module. `waitlistAdvanced` (key '') is published once per admission
 * tick that moved the watermark; every instance derives each of its subscribers' positions
 * from it, so a tick costs one Redis message whatever the number of people waiting.
 */
export interface WaitlistTopics {
  waitlistAdvanced: { admittedThrough: number };
}
